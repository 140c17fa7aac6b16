"""The demo (`posttrain demo`, `make demo`) and what the example scripts share: the example data, the
evals they measure and how a run is shown. It sits above the three libraries and is never imported by
them; the CLI loads it only for `posttrain demo`.

>>> from posttrain_demo.demo import run_demo            # doctest: +SKIP
>>> run_demo("runs/demo", quick=True)                    # doctest: +SKIP
"""
