"""Reproductions of issue 14 ("Everyday use without surprises"), one test each."""
from __future__ import annotations

import numpy as np
import pytest

import geopain.datasets
from geopain.evaluation import splits


class TestOneFoldMaker:
    def test_datasets_has_no_second_copy(self):
        from geopain.datasets import _common

        assert not hasattr(geopain.datasets, "protocol_folds")
        assert not hasattr(_common, "protocol_folds")

    def test_named_protocol_same_as_string(self):
        subjects = [f"s{i}" for i in range(7)]
        named = splits.protocol_folds("k3", subjects, {"protocols": {"k3": {"kind": "kfold", "k": 3}}}, seed=4)
        plain = splits.protocol_folds("kfold:3", subjects, seed=4)
        assert [f.test_subjects for f in named] == [f.test_subjects for f in plain]
