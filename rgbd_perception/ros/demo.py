"""
The main job on the bundled sample: nodes in their own process, frames over real topics.

Publishes an RGB-D sequence (the bundled sample in BOP format, rgbd_perception.bop_sequence, or
the ray-cast rgbd_perception.sample_scene) to a node started through the CLI (as a user would in
venv mode), collects what it publishes, and writes the images plus a contact sheet.
"""

import os
from pathlib import Path
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from sensor_msgs.msg import CameraInfo, Image

from rgbd_perception.image_files import write_depth_png, write_rgb
from rgbd_perception.resources import share_path
from rgbd_perception.ros.image_codec import image_to_numpy, numpy_to_image
from rgbd_perception.ros.qos import qos_profile

NAMESPACE = '/demo_camera'


def camera_info_message(header, width, height, intrinsics):
    """Build a CameraInfo (plumb-bob, no distortion) for the given intrinsics."""
    fx, fy, cx, cy = intrinsics
    msg = CameraInfo(header=header, width=width, height=height, distortion_model='plumb_bob')
    msg.k = [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]
    msg.p = [fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.d = [0.0] * 5
    return msg


def colourise_depth(depth_mm, max_mm=5000):
    """Colour (H, W) uint16 mm depth as (H, W, 3) uint8 RGB (turbo), black where missing."""
    scaled = np.clip(depth_mm.astype(np.float32) / max_mm * 255.0, 0, 255).astype(np.uint8)
    rgb = cv2.cvtColor(cv2.applyColorMap(scaled, cv2.COLORMAP_TURBO), cv2.COLOR_BGR2RGB)
    rgb[depth_mm == 0] = 0
    return rgb


def contact_sheet(rows, labels, tile_width=320):
    """Stack rows of equally sized RGB tiles, each row labelled; returns (H, W, 3) uint8."""
    sheet_rows = []
    for tiles in rows:
        scaled = [cv2.resize(t, (tile_width, tile_width * t.shape[0] // t.shape[1]),
                             interpolation=cv2.INTER_AREA) for t in tiles]
        sheet_rows.append(np.concatenate(scaled, axis=1))
    header = np.full((28, sheet_rows[0].shape[1], 3), 255, np.uint8)
    for column, label in enumerate(labels):
        cv2.putText(header, label, (8 + column * tile_width, 20), cv2.FONT_HERSHEY_SIMPLEX,
                    0.55, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([header] + sheet_rows, axis=0)


def _start_node(device, compile_kernels):
    command = [sys.executable, '-m', 'rgbd_perception.cli', 'node', 'hha', '--ros-args',
               '-r', f'__ns:={NAMESPACE}', '--params-file',
               str(share_path('config', 'hha_node.yaml')), '-p', f'device:={device}',
               '-p', f'compile:={str(compile_kernels).lower()}',
               '-p', 'input_reliability:=reliable', '-p', 'output_reliability:=reliable']
    return subprocess.Popen(command, env=os.environ.copy())


def run_demo(out_dir, frames, device='auto', compile_kernels=False, timeout=90.0):
    """
    Run hha_node over a sequence and write ``out_dir``; return the HHA images by stamp.

    frames: a list of objects with index (int, increasing), rgb ((H, W, 3) uint8), depth_mm
    ((H, W) uint16 millimetres, 0 = missing) and intrinsics ((fx, fy, cx, cy) pixels), e.g.
    rgbd_perception.bop_sequence.SequenceFrame or rgbd_perception.sample_scene.SampleFrame.
    """
    out_dir = Path(out_dir)
    node_process = _start_node(device, compile_kernels)
    context = rclpy.Context()
    rclpy.init(context=context)
    received = {}
    try:
        player = rclpy.create_node('rgbd_perception_demo_player', context=context)
        qos = qos_profile('reliable', depth=10)
        depth_pub = player.create_publisher(Image, f'{NAMESPACE}/depth/image_raw', qos)
        info_pub = player.create_publisher(CameraInfo, f'{NAMESPACE}/depth/camera_info', qos)
        player.create_subscription(
            Image, f'{NAMESPACE}/hha/image',
            lambda msg: received.__setitem__(msg.header.stamp.sec, image_to_numpy(msg)), qos)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(player)

        def spin_until(done, limit):
            deadline = time.monotonic() + limit
            while not done() and time.monotonic() < deadline:
                if node_process.poll() is not None:
                    raise RuntimeError(f'hha_node exited with status {node_process.returncode}')
                executor.spin_once(timeout_sec=0.05)
            return done()

        print(f'[demo] waiting for hha_node in {NAMESPACE} ...', flush=True)
        if not spin_until(lambda: depth_pub.get_subscription_count() > 0
                          and info_pub.get_subscription_count() > 0, timeout):
            raise RuntimeError('hha_node did not subscribe in time')
        round_trips = []
        for frame in frames:
            height, width = frame.depth_mm.shape
            depth_msg = numpy_to_image(frame.depth_mm, '16UC1')
            depth_msg.header.frame_id = 'demo_camera_optical_frame'
            depth_msg.header.stamp.sec = frame.index + 1
            start = time.perf_counter()
            info_pub.publish(camera_info_message(depth_msg.header, width, height,
                                                 frame.intrinsics))
            depth_pub.publish(depth_msg)
            if not spin_until(lambda s=frame.index + 1: s in received, timeout):
                raise RuntimeError(f'no HHA image for frame {frame.index}')
            round_trips.append(time.perf_counter() - start)
        player.destroy_node()
    finally:
        rclpy.shutdown(context=context)
        node_process.send_signal(signal.SIGINT)
        try:
            node_process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            node_process.kill()

    rows = []
    for frame in frames:
        hha = received[frame.index + 1]
        name = f'{frame.index:04d}.png'
        write_rgb(out_dir / 'rgb' / name, frame.rgb)
        write_depth_png(out_dir / 'depth' / name, frame.depth_mm)
        write_rgb(out_dir / 'hha' / name, hha)
        if frame.index % max(1, len(frames) // 5) == 0:
            rows.append([frame.rgb, colourise_depth(frame.depth_mm), hha])
    write_rgb(out_dir / 'contact_sheet.png',
              contact_sheet(rows, ['colour', 'raw depth (mm)', 'HHA from hha_node']))
    median_ms = 1000.0 * float(np.median(round_trips))
    print(f'[demo] {len(frames)} frames through hha_node, median round trip '
          f'{median_ms:.1f} ms; wrote {out_dir}/hha/*.png and {out_dir}/contact_sheet.png')
    return received
