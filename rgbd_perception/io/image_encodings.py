"""The image encodings the nodes accept on each kind of input topic, and REP 118's depth unit."""

#: Depth images: 16-bit in DEPTH_SCALE_16BIT metres, or float metres (REP 118: 32-bit; 64-bit
#: carries float64 depth, such as NYU's 0.1 mm values, without rounding).
DEPTH_ENCODINGS = ('16UC1', 'mono16', '32FC1', '64FC1')
#: REP 118: 16-bit depth images are in millimetres.
DEPTH_SCALE_16BIT = 0.001
#: Colour encodings and the channel order that makes each RGB (mono8 is repeated).
COLOUR_ENCODINGS = {'rgb8': [0, 1, 2], 'bgr8': [2, 1, 0], 'rgba8': [0, 1, 2],
                    'bgra8': [2, 1, 0], 'mono8': [0, 0, 0]}
#: Instance-label images (pixel value = catalogue object id, 0 = background).
LABEL_ENCODINGS = ('mono8', '8UC1', 'mono16', '16UC1', '32SC1')
