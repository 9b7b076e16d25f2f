"""
Throughput of the synthetic world: frames/s by renderer, image size, Cycles samples and workers.

``python -m training.synth.bench --objects DIR --mesh-unit mm --sources given`` renders, for
each case, ``--frames`` frames of the ``synth`` world (FrameWriter: render, sensor model,
annotations and PNG files, into a temporary folder) and prints a Markdown table. Steady
frames/s leaves out each worker's first frame (process start, bpy import, mesh loading):
(frames - workers) / (time of the last result - time of the workers-th result). The load
average before and after is printed too, since other processes share the CPUs.
"""

import argparse
from dataclasses import dataclass
import os
import re
import sys
import tempfile
import time

from training.synth.catalogue import build_catalogue, SOURCES
from training.synth.generate import FrameWriter, map_frames, SynthConfig
from training.synth.scene import SceneOptions

DEFAULT_TINY = '640x480,320x240'
DEFAULT_CYCLES = '320x240@1,320x240@4,320x240@8,320x240@16,640x480@8'


@dataclass(frozen=True)
class Case:
    """One row: renderer ('tiny' or 'cycles'), width, height (px), samples, workers."""

    renderer: str
    width: int
    height: int
    samples: int
    workers: int


def parse_cases(tiny, cycles, workers):
    """
    Return the Cases of the option strings, for each worker count in turn.

    tiny: 'WxH,...'; cycles: 'WxH@SAMPLES,...'; workers: '1,2'. Raises ValueError.
    """
    sizes = [re.fullmatch(r'(\d+)x(\d+)', size) for size in tiny.split(',') if size]
    runs = [re.fullmatch(r'(\d+)x(\d+)@(\d+)', run) for run in cycles.split(',') if run]
    if not all(sizes) or not all(runs):
        raise ValueError(f'expected WxH for --tiny and WxH@SAMPLES for --cycles: {tiny!r}, '
                         f'{cycles!r}')
    cases = []
    for count in (int(w) for w in workers.split(',')):
        cases += [Case('tiny', int(m[1]), int(m[2]), 0, count) for m in sizes]
        cases += [Case('cycles', int(m[1]), int(m[2]), int(m[3]), count) for m in runs]
    return cases


def steady_rate(arrivals, workers):
    """Return frames/s of result arrival times (s) after each worker's first, or None."""
    if len(arrivals) <= workers:
        return None
    return (len(arrivals) - workers) / (arrivals[-1] - arrivals[workers - 1])


def measure(case, catalogue, frames, seed=0):
    """Return (steady frames/s, total seconds) of one Case rendering `frames` frames."""
    with tempfile.TemporaryDirectory(prefix='synth_bench_') as folder:
        config = SynthConfig(out=folder, frames=frames, seed=seed, width=case.width,
                             height=case.height, renderer=case.renderer,
                             samples=max(case.samples, 1), scene=SceneOptions())
        start, arrivals = time.perf_counter(), []
        for _ in map_frames(FrameWriter, (config, catalogue, folder), list(range(frames)),
                            case.workers):
            arrivals.append(time.perf_counter() - start)
    return steady_rate(arrivals, case.workers), arrivals[-1]


def _load():
    return ' / '.join(f'{value:.2f}' for value in os.getloadavg())


def main(argv=None):
    """Print the throughput table; return the exit status."""
    parser = argparse.ArgumentParser(prog='python -m training.synth.bench',
                                     description=__doc__.split('\n\n')[0].strip())
    parser.add_argument('--objects', metavar='MESH_DIR', help='as synth --objects')
    parser.add_argument('--mesh-unit', choices=('auto', 'mm', 'm'), default='auto')
    parser.add_argument('--sources', default=','.join(SOURCES), help='as synth --sources')
    parser.add_argument('--frames', type=int, default=8, help='frames per case (default 8)')
    parser.add_argument('--workers', default='1,2', help='worker counts (default 1,2)')
    parser.add_argument('--tiny', default=DEFAULT_TINY,
                        help=f'TinyRenderer sizes WxH,... (default {DEFAULT_TINY})')
    parser.add_argument('--cycles', default=DEFAULT_CYCLES,
                        help=f'Cycles runs WxH@SAMPLES,... (default {DEFAULT_CYCLES})')
    args = parser.parse_args(argv)
    try:
        cases = parse_cases(args.tiny, args.cycles, args.workers)
    except ValueError as error:
        parser.error(str(error))
    catalogue = build_catalogue(args.objects, args.mesh_unit,
                                [s for s in args.sources.split(',') if s])
    print(f'{os.cpu_count()} CPUs; load average (1 / 5 / 15 min) before: {_load()}')
    print('\n| renderer | size | samples | workers | frames | steady frames/s | total s |')
    print('|---|---|---|---|---|---|---|')
    for case in cases:
        rate, total = measure(case, catalogue, args.frames)
        shown = '-' if rate is None else f'{rate:.2f}'
        samples = case.samples if case.renderer == 'cycles' else '-'
        print(f'| {case.renderer} | {case.width}x{case.height} | {samples} | {case.workers} '
              f'| {args.frames} | {shown} | {total:.1f} |', flush=True)
    print(f'\nload average after: {_load()}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
