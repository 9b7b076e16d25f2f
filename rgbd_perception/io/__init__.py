"""Files in and out: images, depth, BOP folders, catalogues, pose JSON, data paths."""  # noqa: A005, E501 - always imported as rgbd_perception.io, never shadows the stdlib io
