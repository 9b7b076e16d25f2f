"""What a node adds per frame around its stage: decode, encode and publish over rclpy."""

import time

import rclpy
from sensor_msgs.msg import Image

from rgbd_perception.io.ros_messages import image_to_numpy
from rgbd_perception.ros.image_codec import numpy_to_image
from rgbd_perception.ros.qos import qos_profile


def measure_node_overhead(depth_mm, hha, frames=50):
    """
    Time decode (16UC1 -> numpy), encode (rgb8 -> Image) and publish, per frame.

    depth_mm: (H, W) uint16; hha: (H, W, 3) uint8. Returns {label: [seconds, ...]}.
    """
    depth_msg = numpy_to_image(depth_mm, '16UC1')
    timings = {'node: decode 16UC1': [], 'node: encode rgb8': [], 'node: publish rgb8': [],
               'node: total added per frame': []}
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = rclpy.create_node('rgbd_perception_overhead_bench', context=context)
        publisher = node.create_publisher(Image, 'overhead_bench/hha', qos_profile())
        for _ in range(frames):
            t0 = time.perf_counter()
            image_to_numpy(depth_msg)
            t1 = time.perf_counter()
            msg = numpy_to_image(hha, 'rgb8', header=depth_msg.header)
            t2 = time.perf_counter()
            publisher.publish(msg)
            t3 = time.perf_counter()
            for label, value in zip(timings, (t1 - t0, t2 - t1, t3 - t2, t3 - t0)):
                timings[label].append(value)
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
    return timings
