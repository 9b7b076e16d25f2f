"""
The main job on the bundled sample: nodes in their own processes, frames over real topics.

Publishes an RGB-D sequence (the bundled sample in BOP format, rgbd_perception.io.bop, or the
ray-cast rgbd_perception.tools.sample_scene) to the nodes started through the CLI (as a user
would in venv mode: hha_node, depth_completion_node, pose_node with the demo catalogue and
mono_depth_node),
collects what they publish, and writes the images plus a contact sheet.
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

from rgbd_perception.io.data_paths import share_path
from rgbd_perception.io.images import to_depth_mm, write_depth_png, write_rgb
from rgbd_perception.io.recordings import camera_info_message as recorded_camera_info
from rgbd_perception.io.recordings import image_message as recorded_image
from rgbd_perception.io.recordings import RecordingWriter
from rgbd_perception.io.ros_messages import image_to_numpy
from rgbd_perception.ros.camera_info import camera_info_message
from rgbd_perception.ros.image_codec import numpy_to_image
from rgbd_perception.ros.qos import qos_profile
from rgbd_perception.ros.spin import spin_until

NAMESPACE = '/demo_camera'


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


#: The demo's nodes: name -> extra ros-args.  depth_completion_node also publishes HHA from
#: the completed depth, remapped beside hha_node's HHA of the raw depth (HHA from filled depth);
#: pose_node finds the demo catalogue's objects with its built-in detector; mono_depth_node
#: predicts depth from the colour alone.
DEMO_NODES = {
    'hha': ['--params-file', 'hha_node.yaml'],
    'depth_completion': ['--params-file', 'depth_completion_node.yaml', '-p', 'publish_hha:=true',
                         '-r', 'hha/image:=hha_completed/image'],
    'pose': ['--params-file', 'pose_node.yaml'],
    'mono_depth': ['--params-file', 'mono_depth_node.yaml'],
}
#: Collected outputs: topic (in NAMESPACE) -> output folder.
DEMO_OUTPUTS = {'hha/image': 'hha', 'depth/completed': 'completed',
                'hha_completed/image': 'hha_completed', 'objects/overlay': 'pose_overlay',
                'depth/mono': 'mono'}
#: How many nodes subscribe to each input topic.
DEMO_SUBSCRIBERS = {'rgb/image_raw': 3, 'rgb/camera_info': 2, 'depth/image_raw': 3,
                    'depth/camera_info': 2}


def _start_node(name, device, compile_kernels):
    extra = [share_path('config', arg) if arg.endswith('.yaml') else arg
             for arg in DEMO_NODES[name]]
    command = [sys.executable, '-m', 'rgbd_perception.cli', 'node', name, '--ros-args',
               '-r', f'__ns:={NAMESPACE}', *map(str, extra), '-p', f'device:={device}',
               '-p', 'input_reliability:=reliable', '-p', 'output_reliability:=reliable']
    if name == 'hha':
        command += ['-p', f'compile:={str(compile_kernels).lower()}']
    return subprocess.Popen(command, env=os.environ.copy())


def _check_running(processes):
    """Raise RuntimeError when one of the node processes {name: Popen} has exited."""
    for name, process in processes.items():
        if process.poll() is not None:
            raise RuntimeError(f'{name} node exited with status {process.returncode}')


def run_demo(out_dir, frames, device='auto', compile_kernels=False, timeout=90.0):
    """
    Run hha_node, depth_completion_node, pose_node and mono_depth_node over a sequence.

    Writes the outputs and a contact sheet to ``out_dir``.

    frames: a list of objects with index (int, increasing), rgb ((H, W, 3) uint8), depth_mm
    ((H, W) uint16 millimetres, 0 = missing) and intrinsics ((fx, fy, cx, cy) pixels), e.g.
    rgbd_perception.io.bop.SequenceFrame or rgbd_perception.tools.sample_scene.SampleFrame.
    Returns {topic: {stamp seconds: decoded image}} of DEMO_OUTPUTS.
    """
    out_dir = Path(out_dir)
    processes = {name: _start_node(name, device, compile_kernels) for name in DEMO_NODES}
    context = rclpy.Context()
    rclpy.init(context=context)
    received = {topic: {} for topic in DEMO_OUTPUTS}
    try:
        player = rclpy.create_node('rgbd_perception_demo_player', context=context)
        qos = qos_profile('reliable', depth=10)
        publishers = {topic: player.create_publisher(kind, f'{NAMESPACE}/{topic}', qos)
                      for kind, topic in ((Image, 'rgb/image_raw'), (Image, 'depth/image_raw'),
                                          (CameraInfo, 'rgb/camera_info'),
                                          (CameraInfo, 'depth/camera_info'))}
        for topic, store in received.items():
            player.create_subscription(
                Image, f'{NAMESPACE}/{topic}',
                lambda msg, store=store: store.__setitem__(msg.header.stamp.sec,
                                                           image_to_numpy(msg)), qos)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(player)

        def wait(done, limit):
            return spin_until(executor, done, limit, check=lambda: _check_running(processes))

        print(f'[demo] waiting for hha_node, depth_completion_node, pose_node and '
              f'mono_depth_node in '
              f'{NAMESPACE} ...', flush=True)
        if not wait(lambda: all(publishers[topic].get_subscription_count() >= count
                                for topic, count in DEMO_SUBSCRIBERS.items()), timeout):
            raise RuntimeError('the nodes did not subscribe in time')
        round_trips = []
        for frame in frames:
            height, width = frame.depth_mm.shape
            depth_msg = numpy_to_image(frame.depth_mm, '16UC1')
            depth_msg.header.frame_id = 'demo_camera_optical_frame'
            depth_msg.header.stamp.sec = frame.index + 1
            rgb_msg = numpy_to_image(frame.rgb, 'rgb8', header=depth_msg.header)
            start = time.perf_counter()
            info = camera_info_message(frame.intrinsics, width, height, depth_msg.header)
            publishers['rgb/camera_info'].publish(info)
            publishers['depth/camera_info'].publish(info)
            publishers['rgb/image_raw'].publish(rgb_msg)
            publishers['depth/image_raw'].publish(depth_msg)
            if not wait(lambda s=frame.index + 1: all(s in r for r in received.values()),
                        timeout):
                missing = [t for t, r in received.items() if frame.index + 1 not in r]
                raise RuntimeError(f'frame {frame.index}: nothing on {", ".join(missing)}')
            round_trips.append(time.perf_counter() - start)
        player.destroy_node()
    finally:
        rclpy.shutdown(context=context)
        for process in processes.values():
            process.send_signal(signal.SIGINT)
        for process in processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()

    rows = []
    for frame in frames:
        name = f'{frame.index:04d}.png'
        outputs = {folder: received[topic][frame.index + 1]
                   for topic, folder in DEMO_OUTPUTS.items()}
        completed_mm = to_depth_mm(outputs['completed'])
        write_rgb(out_dir / 'rgb' / name, frame.rgb)
        write_depth_png(out_dir / 'depth' / name, frame.depth_mm)
        write_depth_png(out_dir / 'completed' / name, completed_mm)
        write_rgb(out_dir / 'hha' / name, outputs['hha'])
        write_rgb(out_dir / 'hha_completed' / name, outputs['hha_completed'])
        write_rgb(out_dir / 'pose_overlay' / name, outputs['pose_overlay'])
        mono_mm = to_depth_mm(outputs['mono'])
        write_depth_png(out_dir / 'mono' / name, mono_mm)
        if frame.index % max(1, len(frames) // 5) == 0:
            rows.append([frame.rgb, colourise_depth(frame.depth_mm),
                         colourise_depth(completed_mm), outputs['hha'],
                         outputs['hha_completed'], outputs['pose_overlay'],
                         colourise_depth(mono_mm)])
    write_demo_recording(out_dir / 'demo.mcap', frames, received)
    write_rgb(out_dir / 'contact_sheet.png',
              contact_sheet(rows, ['colour', 'raw depth', 'completed depth', 'HHA of raw',
                                   'HHA of completed', 'poses', 'depth from colour']))
    median_ms = 1000.0 * float(np.median(round_trips))
    print(f'[demo] {len(frames)} frames through hha_node, depth_completion_node, pose_node '
          f'and mono_depth_node, median round trip {median_ms:.1f} ms; wrote {out_dir}/{{rgb,'
          f'depth,completed,hha,hha_completed,pose_overlay,mono}}/*.png and '
          f'{out_dir}/contact_sheet.png, {out_dir}/demo.mcap (Foxglove, ros2 bag play)')
    return received


def write_demo_recording(path, frames, received):
    """
    Write the run as one MCAP file: the inputs played and every output received.

    Topics under NAMESPACE as the nodes use them; each message at its frame's stamp (index +
    1 s) in demo_camera_optical_frame; outputs in the encodings the nodes publish (32FC1 for
    depth in metres, rgb8 for images).
    """
    frame_id = 'demo_camera_optical_frame'
    with RecordingWriter(path) as writer:
        for frame in frames:
            stamp = (frame.index + 1) * 1_000_000_000
            height, width = frame.depth_mm.shape
            writer.write(f'{NAMESPACE}/rgb/image_raw', stamp,
                         recorded_image(frame.rgb, 'rgb8', stamp, frame_id))
            writer.write(f'{NAMESPACE}/depth/image_raw', stamp,
                         recorded_image(frame.depth_mm, '16UC1', stamp, frame_id))
            writer.write(f'{NAMESPACE}/rgb/camera_info', stamp, recorded_camera_info(
                frame.intrinsics, height, width, stamp, frame_id))
            for topic, images in received.items():
                image = images[frame.index + 1]
                encoding = '32FC1' if image.dtype == np.float32 else 'rgb8'
                writer.write(f'{NAMESPACE}/{topic}', stamp,
                             recorded_image(image, encoding, stamp, frame_id))
