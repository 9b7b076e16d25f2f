"""torch.nn.Modules of the runtime; ARCHITECTURES maps the class names in manifests to them."""

from rgbd_perception.models.depth_completion import VanishingDepthNet
from rgbd_perception.models.mono_depth import MonoDepthNet
from rgbd_perception.models.pose import PoseNet
from rgbd_perception.models.simsiam import SimSiamRGBD

ARCHITECTURES = {model.__name__: model
                 for model in (VanishingDepthNet, PoseNet, MonoDepthNet, SimSiamRGBD)}
