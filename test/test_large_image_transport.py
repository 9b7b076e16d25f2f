"""VGA images cross processes at 30 Hz with the project's Fast DDS profile (venv mode)."""

import os
import subprocess
import sys
import textwrap
import time

import pytest
from ros_harness import seconds_of
from sensor_msgs.msg import Image

from rgbd_perception.ros.qos import qos_profile

FRAMES = 90
RATE_HZ = 30.0

PUBLISHER = textwrap.dedent("""
    import time
    import numpy as np
    import rclpy
    from sensor_msgs.msg import Image
    from rgbd_perception.ros.image_codec import numpy_to_image
    from rgbd_perception.ros.qos import qos_profile

    rclpy.init()
    node = rclpy.create_node('vga_publisher')
    publisher = node.create_publisher(Image, 'vga_test/image', qos_profile())
    deadline = time.monotonic() + 60
    while publisher.get_subscription_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # let discovery settle on both sides
    image = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    start = time.monotonic()
    for index in range({frames}):
        msg = numpy_to_image(image, 'rgb8')
        msg.header.frame_id = str(index)
        msg.header.stamp = node.get_clock().now().to_msg()
        publisher.publish(msg)
        time.sleep(max(0.0, start + (index + 1) / {rate} - time.monotonic()))
    time.sleep(1.0)
    node.destroy_node()
    rclpy.shutdown()
""").format(frames=FRAMES, rate=RATE_HZ)


@pytest.mark.ros
@pytest.mark.slow
@pytest.mark.timeout(120)
def test_vga_at_30_hz_between_processes(make_client):
    """
    Most of 90 best-effort 640x480 rgb8 images sent at 30 Hz arrive, with low latency.

    Without the shared-memory profile 2 of 90 arrive; with it all 90 on an idle machine.  The
    bounds (80 %, median 0.25 s) leave room for a loaded 2-core machine and still fail without
    the profile.  Speed itself is measured by `rgbd-perception bench`, not here.
    """
    assert os.environ.get('FASTDDS_DEFAULT_PROFILES_FILE'), 'conftest sets the profile'
    received = {}
    client = make_client('/')
    client.client_node.create_subscription(
        Image, 'vga_test/image',
        lambda msg: received.setdefault(msg.header.frame_id, time.time() - seconds_of(msg)),
        qos_profile())
    publisher = subprocess.Popen([sys.executable, '-c', PUBLISHER], env=os.environ.copy(),
                                 stderr=subprocess.PIPE, text=True)
    try:
        client.spin_until(lambda: publisher.poll() is not None, 100)
        client.spin_for(0.5)
        assert publisher.returncode == 0, publisher.stderr.read()
    finally:
        if publisher.poll() is None:
            publisher.kill()
    latencies = sorted(received.values())
    assert len(received) >= 0.8 * FRAMES, f'only {len(received)} of {FRAMES} images arrived'
    median = latencies[len(latencies) // 2]
    assert median < 0.25, f'median latency {median:.3f} s'
