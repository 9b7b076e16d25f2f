"""Pure torch/numpy geometry: cameras, box sums, normals, gravity, HHA (no ROS, no models)."""
