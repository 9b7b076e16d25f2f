"""QoS profiles from node parameters (sensor-data defaults, selectable reliability)."""

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

RELIABILITY = {
    'best_effort': ReliabilityPolicy.BEST_EFFORT,
    'reliable': ReliabilityPolicy.RELIABLE,
}


def qos_profile(reliability='best_effort', depth=5):
    """
    Return a keep-last, volatile QoSProfile (as rclpy's sensor-data profile).

    reliability: 'best_effort' (the sensor-data default) or 'reliable'; depth >= 1.
    """
    if reliability not in RELIABILITY:
        choices = sorted(RELIABILITY)
        raise ValueError(f'reliability must be one of {choices}, got {reliability!r}')
    if int(depth) < 1:
        raise ValueError(f'QoS depth must be >= 1, got {depth}')
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=int(depth),
                      reliability=RELIABILITY[reliability],
                      durability=DurabilityPolicy.VOLATILE)
