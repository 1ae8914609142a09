"""The benchmarks' own package: library code that only benchmarks use, and ``percept bench``.

Modules: :mod:`bench.bus_lib` (``percept bench bus``), :mod:`bench.detect` (``percept bench
detect``), :mod:`bench.track2d` (``percept bench track2d``) and :mod:`bench.sort` (the SORT
baseline). :mod:`bench.cli` adds the ``percept bench`` subcommands through the
``percept.commands`` entry-point group. The ``bench/*.py`` scripts beside them (``bench/bus.py``,
``bench/track2d_table.py``, ...) are run as files and write ``bench/results/``.

``bench`` is the top layer: it may import every other package; nothing imports it.
"""
