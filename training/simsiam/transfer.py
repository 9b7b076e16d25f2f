"""SimSiam pre-training put to use: the RGB trunk of exported SimSiamRGBD weights for PoseNet."""

from rgbd_perception.models.backbones import load_trunk_state
from rgbd_perception.runtime.weights import load_exported
from training.framework.config import ConfigError

RGB_TRUNK = 'trunks.rgb.'


def load_simsiam_trunk(trunk, backbone, input_scaling, weights):
    """
    Load the RGB trunk of exported SimSiamRGBD ``weights`` into a build_trunk(backbone, C) trunk.

    SimSiamRGBD scales its input by ImageNet's mean and std, so the receiving model must use
    input_scaling 'imagenet'; the backbones must match.  A 4-channel (RGB-D) trunk keeps the
    RGB filters, its depth filters start at zero.  Raises ConfigError when they do not fit.
    """
    state, manifest = load_exported(weights)
    kwargs = manifest['model_kwargs']
    if manifest['architecture'] != 'SimSiamRGBD' or 'rgb' not in kwargs.get('branches', ()):
        raise ConfigError(f'{weights}: not SimSiamRGBD weights with an RGB trunk')
    if kwargs['backbone'] != backbone or input_scaling != 'imagenet':
        raise ConfigError(f"{weights}: a {kwargs['backbone']} trunk trained on ImageNet-scaled "
                          f'input; the model has backbone {backbone}, input_scaling '
                          f'{input_scaling}')
    load_trunk_state(trunk, backbone, {key[len(RGB_TRUNK):]: value.float()
                                       for key, value in state.items()
                                       if key.startswith(RGB_TRUNK)})
