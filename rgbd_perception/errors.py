"""The error of one frame's bad input, shared by every layer (it imports nothing)."""


class InputError(ValueError):
    """
    This frame's input is bad: the caller reports it, skips the frame and goes on.

    ``input_name`` names the input the problem lies in, as the stage's argument ('depth',
    'raw_depth', 'rgb', 'detections', ...); None where it is the input the caller was reading
    or passing on.  Nodes route the report to that input's topic.
    """

    input_name = None
