"""Tests for rgbd_perception.ros.sync (ApproximateRgbdSync) with tiny fake messages."""

from types import SimpleNamespace

import pytest

from rgbd_perception.ros.sync import ApproximateRgbdSync, stamp_nanoseconds

IMAGE = 0
INFO = 1
RAW = 2


def fake(sec, nanosec=0, tag=''):
    """Return a message-like object with header.stamp.sec/nanosec and a tag for asserts."""
    stamp = SimpleNamespace(sec=sec, nanosec=nanosec)
    return SimpleNamespace(header=SimpleNamespace(stamp=stamp), tag=tag)


def ms(milliseconds, tag=''):
    """Return a fake message stamped ``milliseconds`` after t = 10 s."""
    return fake(10 + milliseconds // 1000, (milliseconds % 1000) * 1_000_000, tag)


class Recorder:
    """Collects delivered sets (as tuples of tags) and stale messages."""

    def __init__(self):
        self.sets = []
        self.stale = []

    def __call__(self, *msgs):
        """Record one delivered set."""
        self.sets.append(tuple(m.tag for m in msgs))

    def on_stale(self, index, msg):
        """Record one out-of-order message."""
        self.stale.append((index, msg.tag))


def make_sync(num_inputs=2, **kwargs):
    """Return (sync, recorder) wired together."""
    recorder = Recorder()
    sync = ApproximateRgbdSync(num_inputs, recorder, on_stale=recorder.on_stale, **kwargs)
    return sync, recorder


def test_stamp_nanoseconds_combines_sec_and_nanosec():
    """stamp_nanoseconds adds nanoseconds to the seconds, exactly."""
    assert stamp_nanoseconds(fake(3, 250_000_000)) == 3_250_000_000


@pytest.mark.parametrize('order', ['image_first', 'info_first', 'alternating'])
def test_exact_pairs_delivered_in_order(order):
    """Exact-stamp pairs are delivered once each, in stamp order, whichever arrives first."""
    sync, recorder = make_sync(slop=0.0)
    for frame in range(6):
        image, info = ms(33 * frame, f'img{frame}'), ms(33 * frame, f'info{frame}')
        image_first = order == 'image_first' or (order == 'alternating' and frame % 2 == 0)
        pair = [(IMAGE, image), (INFO, info)]
        for index, msg in pair if image_first else reversed(pair):
            sync.add(index, msg)
    assert recorder.sets == [(f'img{i}', f'info{i}') for i in range(6)]
    assert recorder.stale == []
    assert sync.dropped == [0, 0]


def test_exact_pairs_delivered_when_all_images_arrive_before_their_infos():
    """Images queued ahead of their camera_info are matched one by one, oldest first."""
    sync, recorder = make_sync(slop=0.0)
    for frame in range(4):
        sync.add(IMAGE, ms(33 * frame, f'img{frame}'))
    assert recorder.sets == []
    for frame in range(4):
        sync.add(INFO, ms(33 * frame, f'info{frame}'))
    assert recorder.sets == [(f'img{i}', f'info{i}') for i in range(4)]
    assert sync.dropped == [0, 0]
    assert sync.last_delivered == pytest.approx(10.099)


def test_callback_receives_messages_in_input_order():
    """The callback gets the primary image first even when camera_info completes the set."""
    received = []
    sync = ApproximateRgbdSync(2, lambda *msgs: received.append(msgs))
    image, info = ms(0, 'img'), ms(0, 'info')
    sync.add(INFO, info)
    sync.add(IMAGE, image)
    assert len(received) == 1
    assert received[0][0] is image
    assert received[0][1] is info


def test_pair_within_slop_delivered():
    """Stamps 15 ms apart match with a 20 ms slop."""
    sync, recorder = make_sync(slop=0.02)
    sync.add(IMAGE, ms(0, 'img'))
    sync.add(INFO, ms(15, 'info'))
    assert recorder.sets == [('img', 'info')]
    assert sync.last_delivered == pytest.approx(10.015)


def test_pair_beyond_slop_not_delivered():
    """Stamps 25 ms apart do not match with a 20 ms slop; both stay queued."""
    sync, recorder = make_sync(slop=0.02)
    sync.add(IMAGE, ms(0, 'img0'))
    sync.add(INFO, ms(25, 'info25'))
    assert recorder.sets == []
    assert sync.last_delivered is None
    # The queued camera_info still matches an image that arrives later within the slop.
    sync.add(IMAGE, ms(30, 'img30'))
    assert recorder.sets == [('img30', 'info25')]


def test_zero_slop_needs_identical_stamps():
    """With slop 0 a one-nanosecond difference is not a match."""
    sync, recorder = make_sync(slop=0.0)
    sync.add(IMAGE, fake(5, 100))
    sync.add(INFO, fake(5, 101))
    assert recorder.sets == []
    sync.add(INFO, fake(5, 100, 'info'))
    assert len(recorder.sets) == 1


def test_closest_queued_message_is_chosen():
    """Of several queued candidates within the slop the closest in time is used."""
    sync, recorder = make_sync(slop=0.05)
    for stamp in (0, 30, 60):
        sync.add(IMAGE, ms(stamp, f'img{stamp}'))
    sync.add(INFO, ms(32, 'info32'))
    assert recorder.sets == [('img30', 'info32')]
    assert sync.dropped == [1, 0]


def test_three_inputs_need_all_three():
    """With three inputs a set is delivered only once every input has a match."""
    sync, recorder = make_sync(num_inputs=3, slop=0.01)
    sync.add(RAW, ms(2, 'raw'))
    sync.add(IMAGE, ms(0, 'img'))
    assert recorder.sets == []
    sync.add(INFO, ms(1, 'info'))
    assert recorder.sets == [('img', 'info', 'raw')]
    assert sync.dropped == [0, 0, 0]


@pytest.mark.parametrize('arrival', [(0, 1, 2), (2, 1, 0), (1, 2, 0), (1, 0, 2)])
def test_three_inputs_any_arrival_order(arrival):
    """Three exact-stamp inputs are delivered in input order whatever order they arrive in."""
    sync, recorder = make_sync(num_inputs=3, slop=0.0)
    tags = ('img', 'info', 'raw')
    for frame in range(3):
        for index in arrival:
            sync.add(index, ms(100 * frame, f'{tags[index]}{frame}'))
    assert recorder.sets == [(f'img{i}', f'info{i}', f'raw{i}') for i in range(3)]


def test_three_inputs_one_beyond_slop_not_delivered():
    """A set whose spread exceeds the slop because of one input is not delivered."""
    sync, recorder = make_sync(num_inputs=3, slop=0.01)
    sync.add(IMAGE, ms(0, 'img'))
    sync.add(INFO, ms(5, 'info'))
    sync.add(RAW, ms(12, 'raw'))
    assert recorder.sets == []


def test_queue_overflow_counts_dropped():
    """Messages falling out of a full queue are counted per input."""
    sync, recorder = make_sync(slop=0.001, queue_size=3)
    for frame in range(5):
        sync.add(IMAGE, ms(100 * frame, f'img{frame}'))
    assert sync.dropped == [2, 0]
    # The two oldest images are gone: a camera_info for frame 0 finds no match ...
    sync.add(INFO, ms(0, 'info0'))
    assert recorder.sets == []
    # ... but one for frame 2 (still queued) does.
    sync.add(INFO, ms(200, 'info2'))
    assert recorder.sets == [('img2', 'info2')]


def test_queue_overflow_counts_each_input_separately():
    """Overflow of the camera_info queue is counted under its own index."""
    sync, _ = make_sync(slop=0.001, queue_size=1)
    for frame in range(4):
        sync.add(INFO, ms(100 * frame))
    assert sync.dropped == [0, 3]


def test_out_of_order_goes_to_on_stale():
    """A message not newer than the last delivered set goes to on_stale and is not used."""
    sync, recorder = make_sync(slop=0.02)
    sync.add(IMAGE, ms(100, 'img100'))
    sync.add(INFO, ms(100, 'info100'))
    assert recorder.sets == [('img100', 'info100')]
    sync.add(IMAGE, ms(100, 'img100again'))  # equal stamp counts as stale
    sync.add(INFO, ms(90, 'info90'))
    assert recorder.stale == [(IMAGE, 'img100again'), (INFO, 'info90')]
    # A stale message is not queued: a camera_info within slop of it finds nothing.
    sync.add(INFO, ms(110, 'info110'))
    assert recorder.sets == [('img100', 'info100')]
    assert sync.last_delivered == pytest.approx(10.1)


def test_out_of_order_without_on_stale_is_ignored():
    """Without an on_stale callback stale messages are silently ignored."""
    delivered = []
    sync = ApproximateRgbdSync(2, lambda *msgs: delivered.append(msgs), slop=0.0)
    sync.add(IMAGE, ms(50))
    sync.add(INFO, ms(50))
    sync.add(IMAGE, ms(40))
    sync.add(INFO, ms(40))
    assert len(delivered) == 1


def test_older_queued_messages_discarded_when_newer_set_delivered():
    """Delivering a newer set discards (and counts) older queued messages of every input."""
    sync, recorder = make_sync(slop=0.0)
    for frame in range(3):
        sync.add(IMAGE, ms(100 * frame, f'img{frame}'))
    sync.add(INFO, ms(200, 'info2'))
    assert recorder.sets == [('img2', 'info2')]
    assert sync.dropped == [2, 0]
    # The discarded images cannot be matched any more: their camera_info is stale now.
    sync.add(INFO, ms(0, 'info0'))
    sync.add(INFO, ms(100, 'info1'))
    assert recorder.sets == [('img2', 'info2')]
    assert recorder.stale == [(INFO, 'info0'), (INFO, 'info1')]


def test_newer_queued_messages_kept_after_delivery():
    """Queued messages newer than the delivered set stay queued and match later."""
    sync, recorder = make_sync(slop=0.0)
    sync.add(IMAGE, ms(0, 'img0'))
    sync.add(IMAGE, ms(100, 'img1'))
    sync.add(IMAGE, ms(300, 'img3'))
    sync.add(INFO, ms(100, 'info1'))
    assert recorder.sets == [('img1', 'info1')]
    assert sync.dropped == [1, 0]
    sync.add(INFO, ms(300, 'info3'))
    assert recorder.sets == [('img1', 'info1'), ('img3', 'info3')]
    assert sync.dropped == [1, 0]


@pytest.mark.parametrize('kwargs, words', [
    ({'num_inputs': 1}, 'two inputs'),
    ({'num_inputs': 0}, 'two inputs'),
    ({'num_inputs': 2, 'slop': -0.001}, 'slop'),
    ({'num_inputs': 2, 'queue_size': 0}, 'queue_size'),
])
def test_invalid_constructor_arguments(kwargs, words):
    """Fewer than two inputs, negative slop or an empty queue raise ValueError."""
    with pytest.raises(ValueError, match=words):
        ApproximateRgbdSync(callback=lambda *msgs: None, **kwargs)


def test_wall_clock_stamps_keep_nanosecond_precision():
    """At wall-clock times, stamps 100 ns apart stay distinct (integer nanoseconds)."""
    sync, recorder = make_sync(slop=0.0)
    sync.add(IMAGE, fake(1_700_000_000, 100, 'img'))
    sync.add(INFO, fake(1_700_000_000, 200, 'info-later'))
    assert recorder.sets == []
    sync.add(INFO, fake(1_700_000_000, 100, 'info'))
    assert recorder.sets == [('img', 'info')]
    sync.add(IMAGE, fake(1_700_000_000, 150, 'newer-by-50ns'))
    assert recorder.stale == []
