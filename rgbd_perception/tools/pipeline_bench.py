"""
``rgbd-perception bench pipeline``: perception_node in its own process, fed at a fixed rate.

Measured from outside, as a camera driver and a consumer would see it: this process publishes
VGA sample frames (rgb8 colour, 16UC1 depth, camera_info, stamped with the send time) at
``rate`` Hz and subscribes every output; the node runs as ``rgbd-perception node perception``
in a namespace of its own.  After a warm-up (node up, every output arrived once) it measures
for ``seconds``: per output the rate, the latency (receive time - header stamp) median / p90
over the whole run and over its first and last third (growth shows a backlog), the frames
sent, and the node process's resident memory at the start and end of the window (growth
shows a leak).  The node's own /diagnostics (skipped and dropped frames per stage group) are
printed as last reported.
"""

from dataclasses import dataclass, field
import os
from pathlib import Path
import signal
import subprocess
import sys
import time

from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseArray
import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from rgbd_perception.ros.camera_info import camera_info_message
from rgbd_perception.ros.image_codec import numpy_to_image
from rgbd_perception.ros.qos import qos_profile
from rgbd_perception.ros.spin import spin_until
from rgbd_perception.tools.sample_scene import sample_frame

OUTPUTS = {'depth/completed': Image, 'hha/image': Image, 'objects/poses': PoseArray,
           'depth/mono': Image}
FRAME_ID = 'camera_color_optical_frame'
STARTUP_S = 300.0


@dataclass
class OutputRecord:
    """Receive times and latencies (s) of one output topic during the measured window."""

    received: list = field(default_factory=list)
    latencies: list = field(default_factory=list)


def resident_memory_mb(pid):
    """Return the resident set size of process ``pid`` in MiB (Linux /proc), or NaN."""
    try:
        for line in Path(f'/proc/{pid}/status').read_text().splitlines():
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float('nan')


def node_command(namespace, device, parameters=()):
    """Return the command line starting perception_node in ``namespace`` on ``device``."""
    arguments = ['-r', f'__ns:={namespace}', '-p', f'device:={device}']
    for parameter in parameters:
        arguments += ['-p', parameter]
    return [sys.executable, '-m', 'rgbd_perception.cli', 'node', 'perception', '--ros-args',
            *arguments]


class Feeder:
    """A client node publishing sample frames and recording the outputs' arrivals."""

    def __init__(self, context, namespace, frames, size):
        self.node = rclpy.create_node('pipeline_bench_feeder', namespace=namespace,
                                      context=context)
        qos = qos_profile('best_effort', 5)
        self.publishers = {topic: self.node.create_publisher(kind, topic, qos) for topic, kind in
                           (('rgb/image_raw', Image), ('depth/image_raw', Image),
                            ('rgb/camera_info', CameraInfo))}
        self.records = {topic: OutputRecord() for topic in OUTPUTS}
        self.seen = dict.fromkeys(OUTPUTS, 0)
        self.measuring = False
        for topic, kind in OUTPUTS.items():
            self.node.create_subscription(kind, topic, lambda m, t=topic: self._on_output(t, m),
                                          qos)
        self.diagnostics = {}
        self.node.create_subscription(DiagnosticArray, '/diagnostics', self._on_diagnostics, 10)
        self.messages = [(numpy_to_image(f.rgb, 'rgb8'), numpy_to_image(f.depth_mm, '16UC1'),
                          camera_info_message(f.intrinsics, *size, Header()))
                         for f in frames]
        self.sent = 0

    def _on_output(self, topic, msg):
        self.seen[topic] += 1
        if not self.measuring:
            return
        now = time.time()
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        self.records[topic].received.append(now)
        self.records[topic].latencies.append(now - stamp)

    def _on_diagnostics(self, array):
        for status in array.status:
            if 'perception_node' in status.name:
                self.diagnostics[status.name] = {kv.key: kv.value for kv in status.values}

    def send(self):
        """Publish the next sample frame, stamped now."""
        rgb, depth, info = self.messages[self.sent % len(self.messages)]
        header = Header(stamp=self.node.get_clock().now().to_msg(), frame_id=FRAME_ID)
        for msg, topic in ((rgb, 'rgb/image_raw'), (depth, 'depth/image_raw'),
                           (info, 'rgb/camera_info')):
            msg.header = header
            self.publishers[topic].publish(msg)
        self.sent += 1


def summarise(record, start, end):
    """Return {rate_hz, latency medians / p90 (ms) overall, first and last third} of a record."""
    received = np.asarray(record.received)
    latencies = np.asarray(record.latencies) * 1000.0
    third = (end - start) / 3.0
    first = latencies[received < start + third]
    last = latencies[received >= end - third]

    def median(values):
        return float(np.median(values)) if len(values) else float('nan')
    return {'count': len(received), 'rate_hz': len(received) / (end - start),
            'latency_median_ms': median(latencies),
            'latency_p90_ms': float(np.percentile(latencies, 90)) if len(latencies)
            else float('nan'),
            'latency_first_third_ms': median(first), 'latency_last_third_ms': median(last)}


def run_pipeline(seconds=30.0, rate=30.0, device='cpu', size=(640, 480), parameters=(),
                 log_path=None):
    """
    Run the measurement (see the module docstring) and return its results as a dict.

    Keys: outputs {topic: summarise(...)}, sent, send_rate_hz, rss_start_mb, rss_end_mb,
    diagnostics {status name: values} (the node's last), seconds.
    """
    namespace = f'/pipeline_bench_{os.getpid()}'
    log_path = Path(log_path or f'/tmp/pipeline_bench_{os.getpid()}.log')
    frames = [sample_frame(i, num_frames=10, width=size[0], height=size[1]) for i in range(10)]
    context = rclpy.Context()
    rclpy.init(context=context)
    with open(log_path, 'wb') as log:
        process = subprocess.Popen(node_command(namespace, device, parameters),
                                   stdout=log, stderr=subprocess.STDOUT)
    feeder = Feeder(context, namespace, frames, size)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(feeder.node)

    def alive():
        if process.poll() is not None:
            raise RuntimeError(f'perception_node exited with {process.returncode}: '
                               f'{log_path.read_text(errors="replace")[-3000:]}')
    try:
        deadline = time.monotonic() + STARTUP_S
        while not all(feeder.seen.values()):
            if time.monotonic() > deadline:
                raise RuntimeError(f'no output within {STARTUP_S} s: {feeder.seen}')
            feeder.send()
            spin_until(executor, lambda: False, 0.5, alive)
        period = 1.0 / rate
        feeder.measuring, sent_before = True, feeder.sent
        start = time.time()
        rss_start = resident_memory_mb(process.pid)
        next_send = time.monotonic()
        while time.time() - start < seconds:
            alive()
            if time.monotonic() >= next_send:
                feeder.send()
                next_send += period
                if time.monotonic() > next_send + period:  # the feeder itself fell behind
                    next_send = time.monotonic()
            executor.spin_once(timeout_sec=max(0.0, min(period, next_send - time.monotonic())))
        end = time.time()
        feeder.measuring = False
        rss_end = resident_memory_mb(process.pid)
        spin_until(executor, lambda: False, 1.5, alive)  # the node's last /diagnostics
        return {'outputs': {topic: summarise(record, start, end)
                            for topic, record in feeder.records.items()},
                'sent': feeder.sent - sent_before,
                'send_rate_hz': (feeder.sent - sent_before) / (end - start),
                'rss_start_mb': rss_start, 'rss_end_mb': rss_end,
                'diagnostics': dict(feeder.diagnostics), 'seconds': end - start}
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        executor.shutdown()
        feeder.node.destroy_node()
        rclpy.shutdown(context=context)


def format_results(results):
    """Return the printable table of run_pipeline's results."""
    lines = [f"{results['sent']} frames sent in {results['seconds']:.1f} s "
             f"({results['send_rate_hz']:.1f} Hz); node RSS {results['rss_start_mb']:.0f} -> "
             f"{results['rss_end_mb']:.0f} MiB",
             f"{'output':<18}{'Hz':>7}{'median ms':>11}{'p90 ms':>9}{'first 1/3':>11}"
             f"{'last 1/3':>10}"]
    for topic, s in results['outputs'].items():
        lines.append(f"{topic:<18}{s['rate_hz']:7.2f}{s['latency_median_ms']:11.0f}"
                     f"{s['latency_p90_ms']:9.0f}{s['latency_first_third_ms']:11.0f}"
                     f"{s['latency_last_third_ms']:10.0f}")
    for name, values in sorted(results['diagnostics'].items()):
        keys = ('input_rate_hz', 'output_rate_hz', 'frames_skipped', 'frames_dropped')
        lines.append(f'{name}: ' + ', '.join(f'{k} {values[k]}' for k in keys if k in values))
    return '\n'.join(lines)


def run_pipeline_benchmark(args):
    """``bench pipeline``: print the table (and write --json when given)."""
    import json

    results = run_pipeline(args.seconds, args.rate, args.device,
                           parameters=args.node_parameter)
    print(format_results(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + '\n')
