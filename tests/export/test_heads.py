"""Export heads: official pickled Ridge files read without scikit-learn, safely; our head JSON."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from contrique_export.errors import HeadFileError, UnsafePickleError
from contrique_export.heads import OFFICIAL_HEADS, read_head, read_sklearn_ridge
from contrique_infer.head import Head
from contrique_infer.manifest import HeadInfo

ALPHAS = {"Koniq": 0.1, "CLIVE": 0.25, "LIVE": 0.1, "CSIQ": 0.1}


@pytest.fixture(scope="module")
def regressors(official_dir):
    return official_dir / "regressors"


@pytest.mark.parametrize("name", list(OFFICIAL_HEADS))
def test_official_ridge_reproduces_golden_scores(official_dir, regressors, name):
    ridge = read_sklearn_ridge(regressors / f"{name}.save")
    assert ridge.coef.shape == (4096,) and ridge.coef.dtype == np.float64
    if name in ALPHAS:
        assert ridge.alpha == ALPHAS[name]
    features = np.load(official_dir / "golden_features.npz")
    golden = json.loads((official_dir / "golden_scores.json").read_text())
    kind = OFFICIAL_HEADS[name].kind
    for key, expected in golden[kind][name].items():
        if kind == "nr":
            feature = features[key]
        else:
            ref, dist = key.split("|")
            feature = np.abs(features[ref].astype(np.float64) - features[dist])
        assert feature.astype(np.float64) @ ridge.coef + ridge.intercept == pytest.approx(expected, abs=1e-3)


def test_official_head_metadata(regressors):
    live = read_head("live", regressors / "LIVE.save", feature_dim=4096)  # names are case-insensitive
    assert live.info == HeadInfo(
        "LIVE", "heads/LIVE.json", "nr", "LIVE IQA", "DMOS, about 0..100", False,
        "official CONTRIQUE no-reference Ridge head trained on LIVE IQA",
    )
    assert live.alpha == 0.1
    koniq = read_head("Koniq", regressors / "Koniq.save", feature_dim=4096)
    assert (koniq.kind, koniq.info.higher_is_better, koniq.info.score_scale) == ("nr", True, "MOS, about 0..100")
    csiq = read_head("CSIQ", regressors / "CSIQ.save", feature_dim=4096)
    assert (csiq.info.higher_is_better, csiq.info.score_scale) == (False, "DMOS, about 0..1")
    fr = read_head("CSIQ_FR", regressors / "CSIQ_FR.save", feature_dim=4096)
    assert (fr.kind, fr.info.higher_is_better) == ("fr", False)


def test_pickled_head_needs_official_name_and_right_length(regressors):
    with pytest.raises(HeadFileError, match="head name 'mine' is not an official head"):
        read_head("mine", regressors / "Koniq.save", feature_dim=4096)
    with pytest.raises(HeadFileError, match="has 4096 coefficients but the model's feature has 1024"):
        read_head("Koniq", regressors / "Koniq.save", feature_dim=1024)


def test_json_head_round_trip(tmp_path):
    info = HeadInfo("spaq", "heads/spaq.json", "nr", "SPAQ", "MOS, about 0..100", True, "ours")
    head = Head(info, np.linspace(-1, 1, 16), 42.5, alpha=0.5, feature_range=(np.zeros(16), np.ones(16)),
                score_range=(0.0, 100.0))
    path = head.save(tmp_path / "spaq.json")
    read = read_head("phone", path, feature_dim=16)
    assert read.info == HeadInfo("phone", "heads/phone.json", "nr", "SPAQ", "MOS, about 0..100", True, "ours")
    np.testing.assert_array_equal(read.coef, head.coef)
    assert (read.intercept, read.alpha, read.score_range) == (42.5, 0.5, (0.0, 100.0))
    np.testing.assert_array_equal(read.feature_range[1], np.ones(16))  # the fitted ranges reach the bundle
    with pytest.raises(HeadFileError, match="has 16 coefficients but the model's feature has 8"):
        read_head("phone", path, feature_dim=8)
    bad = tmp_path / "bad.json"
    bad.write_text('{"format_version": 1, "name": "x"}')
    with pytest.raises(HeadFileError, match="bad.json: missing required field 'kind'"):
        read_head("x", bad, feature_dim=16)


def test_not_a_pickle(tmp_path):
    path = tmp_path / "junk.save"
    path.write_bytes(b"\x00\x01 this is not a pickle")
    with pytest.raises(HeadFileError, match="junk.save: is not a readable pickled Ridge head"):
        read_sklearn_ridge(path)
    plain = tmp_path / "list.save"
    plain.write_bytes(pickle.dumps([1.0, 2.0]))
    with pytest.raises(HeadFileError, match="holds a list, not a scikit-learn Ridge object"):
        read_sklearn_ridge(plain)


def _reduce_pickle(module: str, name: str, arg: str) -> bytes:
    """A protocol-2 pickle that calls ``module.name(arg)`` when loaded."""
    return (
        b"\x80\x02c" + module.encode() + b"\n" + name.encode() + b"\n"
        + b"X" + len(arg.encode()).to_bytes(4, "little") + arg.encode() + b"\x85R."
    )


@pytest.mark.parametrize(
    ("module", "name", "payload"),
    [
        ("os", "system", "touch {marker}"),
        ("posix", "system", "touch {marker}"),
        ("subprocess", "getoutput", "touch {marker}"),
        ("builtins", "eval", "open({marker!r}, 'w').close()"),
        ("builtins", "exec", "open({marker!r}, 'w').close()"),
    ],
)
def test_malicious_pickle_is_refused_and_nothing_runs(tmp_path, module, name, payload):
    marker = tmp_path / "pwned"
    data = _reduce_pickle(module, name, payload.format(marker=str(marker)))
    path = tmp_path / "Koniq.save"
    path.write_bytes(data)
    with pytest.raises(UnsafePickleError, match=f"references {module}.{name}.*refusing to load it"):
        read_head("Koniq", path, feature_dim=4096)
    assert not marker.exists()
    # The same bytes do run the command under plain pickle: the test pickle is really malicious.
    if module == "os":
        pickle.loads(data)
        assert marker.exists()


def test_malicious_global_inside_a_ridge_is_refused(tmp_path, regressors):
    marker = tmp_path / "pwned"
    original = (regressors / "Koniq.save").read_bytes()
    # Replace the intercept's scalar() call by os.system: same structure, one forbidden global.
    evil = original.replace(b"cnumpy.core.multiarray\nscalar\n", b"cos\nsystem\n")
    assert evil != original
    path = tmp_path / "Koniq.save"
    path.write_bytes(evil)
    with pytest.raises(UnsafePickleError, match="references os.system"):
        read_sklearn_ridge(path)
    assert not marker.exists()


def test_allowed_globals_cannot_be_abused(tmp_path):
    object_dtype = b"\x80\x02cnumpy\ndtype\nX\x02\x00\x00\x00O8\x89\x88\x87R."
    path = tmp_path / "dtype.save"
    path.write_bytes(object_dtype)
    with pytest.raises(HeadFileError, match="dtype 'O8' is not a plain numeric dtype"):
        read_sklearn_ridge(path)
    persistent = b"\x80\x02X\x01\x00\x00\x00xQ."
    path.write_bytes(persistent)
    with pytest.raises(UnsafePickleError, match="persistent ids"):
        read_sklearn_ridge(path)


def test_reading_needs_no_sklearn(regressors):
    """In a fresh interpreter where importing sklearn or joblib fails, the heads still load."""
    script = textwrap.dedent(
        f"""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("sklearn", "joblib"):
                    raise ImportError("blocked: " + name)
        sys.meta_path.insert(0, Block())
        from contrique_export.heads import read_sklearn_ridge
        ridge = read_sklearn_ridge({str(regressors / "CLIVE.save")!r})
        assert ridge.coef.shape == (4096,) and ridge.alpha == 0.25
        assert not any(m.split(".")[0] in ("sklearn", "joblib") for m in sys.modules)
        print("ok")
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=dict(os.environ))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_head_files_that_are_fifos_or_too_deep_are_refused(tmp_path):
    os.mkfifo(tmp_path / "Koniq.save")
    with pytest.raises(HeadFileError, match=r"Koniq.save: cannot be read \(is a named pipe \(FIFO\), not a regular"):
        read_sklearn_ridge(tmp_path / "Koniq.save")  # refused, not waited on
    os.mkfifo(tmp_path / "mine.json")
    with pytest.raises(HeadFileError, match=r"mine.json: is a named pipe \(FIFO\), not a regular file"):
        read_head("mine", tmp_path / "mine.json", feature_dim=16)
    (tmp_path / "deep.json").write_text("[" * 1000 + "]" * 1000)
    with pytest.raises(HeadFileError, match=r"deep.json: cannot be read as JSON \(nested 1000 levels deep"):
        read_head("deep", tmp_path / "deep.json", feature_dim=16)


def test_pickled_heads_larger_than_the_limit_are_refused_unread(tmp_path, monkeypatch):
    from contrique_export import heads

    monkeypatch.setattr(heads, "MAX_PICKLE_BYTES", 1000)
    (tmp_path / "Koniq.save").write_bytes(b"\x80" * 1001)
    with pytest.raises(HeadFileError, match=r"Koniq.save: is 1001 bytes, more than the 1000 allowed; a pickled Ridge"):
        read_sklearn_ridge(tmp_path / "Koniq.save")


def test_a_negative_ridge_penalty_is_refused(tmp_path):
    # was: alpha -1 accepted into the bundle
    info = HeadInfo("q", "heads/q.json", "nr", "x", "0..1", True, "")
    path = Head(info, np.zeros(4), 0.5, alpha=-1.0).save(tmp_path / "q.json")
    with pytest.raises(HeadFileError, match=r"alpha \(the ridge penalty\) is -1; a ridge penalty is 0 or more"):
        read_head("q", path, feature_dim=4)
