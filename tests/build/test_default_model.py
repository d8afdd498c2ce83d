"""Data synthesis, training loop and evaluation CLI of the embedded default model (tiny, fast)."""
import json
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # build-time test: compares with / builds torch models

from export import data as D
from export.metrics import sdr, si_sdr, si_sdri, sdri

FLUID = shutil.which("fluidsynth") is not None and any(p.exists() for p in D.TRAIN_SOUNDFONTS)
needs_fluidsynth = pytest.mark.skipif(not FLUID, reason="FluidSynth or a GM soundfont is missing (scripts/setup.sh --test)")


def synthetic_pool(root, split, clips=2, seconds=4.0):
    """A stand-in pool of family-specific tones (no FluidSynth needed), in build_pool's format."""
    d = root / split
    d.mkdir(parents=True, exist_ok=True)
    index = {}
    t = np.arange(int(seconds * D.SR)) / D.SR
    for i, fam in enumerate(D.FAMILY_NAMES):
        arr = []
        for c in range(clips):
            f0 = 55.0 * 2 ** (i / 3) * (1 + 0.01 * c)
            x = np.sin(2 * np.pi * f0 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * (0.5 + i) * t))
            arr.append(np.round(x / np.abs(x).max() * 0.9 * 32767).astype(np.int16))
        np.save(d / f"{D.slug(fam)}.npy", np.stack(arr))
        index[fam] = {"file": f"{D.slug(fam)}.npy", "clips": clips, "seconds": seconds, "seed": 0, "soundfonts": []}
    (d / "index.json").write_text(json.dumps(index))
    return root


def test_metrics_follow_audiosep_definitions():
    r = np.random.default_rng(0)
    s, n = r.standard_normal(1000), r.standard_normal(1000)
    assert sdr(s, s + 0.1 * n) == pytest.approx(10 * np.log10(np.sum(s ** 2) / np.sum((0.1 * n) ** 2)), abs=1e-6)
    assert si_sdr(s, 3 * s) > 80  # scale-invariant
    assert sdr(s, 3 * s) < 0  # plain SDR is not
    assert sdri(s, s, s + n) > 50 and si_sdri(s, s + n, s + n) == pytest.approx(0.0)


@needs_fluidsynth
def test_stem_rendering_is_deterministic_and_musical():
    spec = D.PoolSpec("t", 1, 2.0, 5, D.available_soundfonts(D.TRAIN_SOUNDFONTS)[:1], D.TRAIN_VOICES, D.TRAIN_LANGS)
    fresh = lambda: {sf: D.SoundfontRenderer(sf) for sf in spec.soundfonts}
    for fam in ("bass", "drums", "piano"):
        a = D.render_stem(D.FAMILIES[fam], np.random.default_rng([1, 2]), fresh(), spec)
        b = D.render_stem(D.FAMILIES[fam], np.random.default_rng([1, 2]), fresh(), spec)
        c = D.render_stem(D.FAMILIES[fam], np.random.default_rng([1, 3]), fresh(), spec)
        assert a.shape == (2 * D.SR,) and np.array_equal(a, b)
        assert not np.array_equal(a, c)
        assert D.rms_db(a) > -50 and np.abs(a).max() <= 0.99


@needs_fluidsynth
def test_pools_are_reproducible_from_their_seed(tmp_path):
    sfs = D.available_soundfonts(D.TRAIN_SOUNDFONTS)[:1]
    arrays = []
    for run in ("a", "b"):
        spec = D.PoolSpec("train", 3, 1.0, 11, sfs, D.TRAIN_VOICES, D.TRAIN_LANGS, families=["bass", "drums"])
        index = D.build_pool(tmp_path / run, spec, workers=2)
        assert index["bass"]["clips"] == 3 and index["_throughput"]["audio_seconds"] == 6.0
        arrays.append(D.load_pool(tmp_path / run, "train"))
    for fam in ("bass", "drums"):
        assert np.array_equal(arrays[0][fam], arrays[1][fam])
        assert len({arrays[0][fam][i].tobytes() for i in range(3)}) == 3  # clips differ from each other


def test_notes_stay_in_register_and_share_a_song():
    rng = np.random.default_rng(0)
    song = D.Song(tonic=2, scale=D.MINOR, bpm=100.0, progression=[0, 5, 3, 4])
    for name, fam in D.FAMILIES.items():
        prog = fam.programs[0]
        notes = D.gen_notes(fam, rng, 6.0, program=prog, song=song)
        assert notes, name
        lo, hi = D.PROGRAM_REGISTER.get(prog, fam.register) if fam.style != "drums" else (27, 90)
        keys = [k for _, _, k, _ in notes]
        assert min(keys) >= lo - 12 and max(keys) <= hi + 12, name
        assert all(1 <= v <= 127 for *_, v in notes)
    bass = D.gen_notes(D.FAMILIES["bass"], rng, 4.0, song=song)
    assert {k % 12 for _, _, k, _ in bass} <= {(song.tonic + d) % 12 for d in song.scale}  # roots from the key


def test_mix_sampler_is_balanced_and_has_absent_queries(tmp_path):
    pool = D.load_pool(synthetic_pool(tmp_path, "train"), "train")
    s = D.MixSampler(pool, 1.0, seed=3, absent_p=0.2)
    counts = {f: 0 for f in D.FAMILY_NAMES}
    absent = 0
    for _ in range(1400):
        ex = s.sample()
        counts[ex.family] += 1
        assert 2 <= len(ex.present) <= 5 and np.abs(ex.mixture).max() <= 0.951
        if ex.family in ex.present:
            assert np.any(ex.target)
        else:
            absent += 1
            assert not np.any(ex.target)
    assert 0.15 < absent / 1400 < 0.25
    assert min(counts.values()) > 60 and max(counts.values()) < 150  # ~100 each


def test_hard_negatives_name_a_neighbour_of_an_instrument_in_the_mix(tmp_path):
    pool = D.load_pool(synthetic_pool(tmp_path, "train"), "train")
    assert set(D.NEIGHBOURS) == set(D.FAMILY_NAMES)
    assert all(n in D.FAMILIES and n != f for f, ns in D.NEIGHBOURS.items() for n in ns)

    def neighbour_share(hard_p):
        s = D.MixSampler(pool, 1.0, seed=5, absent_p=1.0, max_stems=2, hard_p=hard_p)
        hits = n = 0
        for _ in range(300):
            ex = s.sample()
            assert ex.family not in ex.present and not np.any(ex.target)
            free = [f for f in D.FAMILY_NAMES if f not in ex.present]
            if any(x in free for p in ex.present for x in D.NEIGHBOURS[p]):
                n += 1
                hits += any(ex.family in D.NEIGHBOURS[p] for p in ex.present)
        return hits / n

    assert neighbour_share(1.0) == 1.0
    assert neighbour_share(0.0) < 0.6  # uniform over the 12 free families: ~0.3
    assert D.MixSampler(pool, 1.0, seed=9).hard_p == 0.0  # off unless training asks (validation mixes unchanged)


def test_partner_mixes_hold_a_neighbour_of_the_queried_family(tmp_path):
    pool = D.load_pool(synthetic_pool(tmp_path, "train"), "train")
    assert "drums" in D.NEIGHBOURS["bass"] and "bass" in D.NEIGHBOURS["drums"]  # the kick-in-the-bass case
    s = D.MixSampler(pool, 1.0, seed=5, absent_p=0.5, max_stems=4, pair_p=1.0)
    queried = set()
    for _ in range(200):
        ex = s.sample()
        assert ex.family == ex.present[0] and ex.present[1] in D.NEIGHBOURS[ex.family]
        assert len(set(ex.present)) == len(ex.present) and 2 <= len(ex.present) <= 4
        assert np.any(ex.target) and np.abs(ex.mixture).max() <= 0.95 + 1e-6
        # the target is the queried stem as it sits in the mix: the others sum to the rest
        rest = ex.mixture - ex.target
        assert np.abs(rest).max() > 1e-3
        queried.add(ex.family)
    assert queried == {f for f in D.FAMILY_NAMES if D.NEIGHBOURS[f]}  # every family with a neighbour is asked
    # off by default, and with it off the sampler draws exactly as before (validation mixes unchanged)
    a, b = D.MixSampler(pool, 1.0, seed=7), D.MixSampler(pool, 1.0, seed=7, pair_p=0.0)
    for _ in range(20):
        x, y = a.sample(), b.sample()
        assert x.family == y.family and np.array_equal(x.mixture, y.mixture)


def test_training_loop_reduces_the_loss(tmp_path):
    from export.train import LOSSES, DefaultModel, ResUNetConfig, make_batch, parse_args, train

    class FakeBank:  # random but fixed "sentence embeddings" per family, no MiniLM needed
        def __init__(self):
            g = np.random.default_rng(0)
            self.emb = {f: g.standard_normal((2, 384)).astype(np.float32) for f in D.FAMILY_NAMES}
            for v in self.emb.values():
                v /= np.linalg.norm(v, axis=1, keepdims=True)

        def sample(self, fam, rng, noise=0.0):
            return self.emb[fam][int(rng.integers(2))]

    pool_dir = synthetic_pool(tmp_path / "pool", "train")
    synthetic_pool(tmp_path / "pool", "valid")
    arch = json.dumps({"widths": [4, 8, 8, 16, 16], "condition_dim": 16})
    # a step limit, not a wall-clock one, so that a loaded machine trains exactly as far (--minutes is
    # far more than 12 steps need; the later invocations stop on their minutes)
    args = parse_args(["--minutes", "30", "--max-steps", "12", "--out", str(tmp_path / "run"), "--pool", str(pool_dir),
                       "--clips", "2", "--batch", "4", "--seconds", "1.0", "--eval-every", "10", "--valid-n", "8",
                       "--arch", arch, "--threads", "1"])
    bank = FakeBank()
    out = train(args, bank=bank)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 12 and (out / "last.pt").exists() and (out / "best.pt").exists()
    curve = [json.loads(l) for l in open(out / "curve.jsonl")]
    assert [c["step"] for c in curve] == [10, 12] and all(np.isfinite(c["si_sdri"]) for c in curve)
    # resume continues the same run (the plan grows, the step count carries on)
    args2 = parse_args(["--minutes", "0.1", "--out", str(out), "--pool", str(pool_dir), "--clips", "2", "--batch", "4",
                        "--seconds", "1.0", "--resume", "--threads", "1", "--eval-every", "1000", "--valid-n", "4"])
    train(args2, bank=bank)
    assert json.loads((out / "summary.json").read_text())["steps"] > summary["steps"]
    # --init starts a new folder from a checkpoint (fine-tuning with another loss); the step count carries on
    ck_steps = json.loads(torch.load(out / "last.pt", weights_only=True)["state"])["step"]
    args3 = parse_args(["--minutes", "0.05", "--out", str(tmp_path / "ft"), "--init", str(out / "last.pt"),
                        "--pool", str(pool_dir), "--clips", "2", "--batch", "4", "--seconds", "1.0", "--loss", "sisdr_level",
                        "--absent-weight", "1.0", "--hard-negatives", "0.5", "--partner-mixes", "0.3", "--threads", "1",
                        "--eval-every", "1000",
                        "--valid-n", "4"])
    train(args3, bank=bank)
    assert json.loads((tmp_path / "ft" / "summary.json").read_text())["steps"] > ck_steps
    with pytest.raises(SystemExit, match="--resume"):
        train(args3, bank=bank)
    # every invocation is recorded in the checkpoint, and the model card says which loss trained which steps
    from export.default_bundle import loss_history

    state = json.loads(torch.load(tmp_path / "ft" / "last.pt", weights_only=True)["state"])
    assert [p["loss"] for p in state["phases"]] == ["mixed", "mixed", "sisdr_level"]
    assert state["phases"][2]["from_step"] == ck_steps
    text = loss_history({"phases": json.dumps(state["phases"]), "steps": state["step"]})
    assert f"steps {ck_steps}-{state['step']}: thresholded negative SI-SDR + 1 dB per dB" in text
    assert text.endswith("absent queries x1, 50% of them a neighbour of an instrument in the mix, "
                         "30% of mixes holding a neighbour of the queried family.")
    assert text.count("absent queries") == 1 and text.count("neighbour") == 2
    assert text.startswith("steps 0-") and text.count("peak lr") == 2  # the resumed run merges with the first
    # the same loss on one fixed batch goes down: the loop learns
    torch.manual_seed(0)
    m = DefaultModel(ResUNetConfig.from_dict({**json.loads(json.dumps(summary["arch"]))}))
    sampler = D.MixSampler(D.load_pool(pool_dir, "train"), 1.0, seed=1)
    mix, tgt, emb = make_batch(sampler, bank, np.random.default_rng(0), 4)
    opt = torch.optim.AdamW(m.parameters(), 3e-3)
    losses = []
    for _ in range(25):
        loss = LOSSES["mixed"](m(mix, emb), tgt, mix, 0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


def test_sisdr_loss_is_the_metric_and_does_not_reward_hedging():
    from export.train import sdr_loss, sisdr_loss

    g = torch.Generator().manual_seed(0)
    s = torch.randn(1, 16000, generator=g)
    n = 2 * torch.randn(1, 16000, generator=g)
    mix = s + n
    leaky = s + 0.3 * n  # a confident estimate with some interference
    hedge = 0.5 * mix  # half of everything: input SI-SDR, but a good SNR
    for est in (leaky, hedge):
        # the present-target term is -SI-SDR (metric's definition) plus 0.1 x -SNR
        expect = -si_sdr(s[0].numpy(), est[0].numpy()) - 0.1 * sdr(s[0].numpy(), est[0].numpy())
        assert float(sisdr_loss(est, s, mix)) == pytest.approx(expect, abs=0.05)
    # the SNR loss puts the hedge within 6 dB of the confident estimate; the SI-SDR loss, 10 dB apart
    assert float(sdr_loss(hedge, s, mix)) - float(sdr_loss(leaky, s, mix)) < 6
    assert float(sisdr_loss(hedge, s, mix)) - float(sisdr_loss(leaky, s, mix)) > 10
    # an absent target (silence) is scored by output energy, as in the SNR loss
    silent = torch.zeros_like(s)
    assert float(sisdr_loss(0.1 * mix, silent, mix)) == pytest.approx(float(sdr_loss(0.1 * mix, silent, mix)))
    assert float(sisdr_loss(0.1 * mix, silent, mix)) > float(sisdr_loss(0.001 * mix, silent, mix))


def test_sisdr_level_loss_charges_for_muted_answers():
    from export.train import sdr_loss, sisdr_level_loss, sisdr_loss

    g = torch.Generator().manual_seed(1)
    s = torch.randn(1, 16000, generator=g)
    mix = s + 2 * torch.randn(1, 16000, generator=g)
    muted = s * 10 ** (-30 / 20)  # the right shape, 30 dB too quiet
    # the SI-SDR loss barely sees the difference (the flaw that muted the step-33500 model's answers)
    assert float(sisdr_loss(muted, s, mix)) - float(sisdr_loss(s, s, mix)) < 4
    # the level-aware loss charges ~1 dB per dB of level error
    gap = float(sisdr_level_loss(muted, s, mix)) - float(sisdr_level_loss(s, s, mix))
    assert 25 < gap < 32
    # and its minimum over the gain is at the stem's level, from either side
    losses = {k: float(sisdr_level_loss(k * s, s, mix)) for k in (0.5, 0.9, 1.0, 1.1, 2.0)}
    assert min(losses, key=losses.get) == 1.0
    assert losses[0.5] == pytest.approx(losses[2.0], abs=0.01)  # symmetric in dB
    # absent queries are scored as in the SNR loss
    silent = torch.zeros_like(s)
    assert float(sisdr_level_loss(0.1 * mix, silent, mix)) == pytest.approx(float(sdr_loss(0.1 * mix, silent, mix)))


def test_best_checkpoint_score_penalises_muted_answers_and_loud_absent_ones():
    from export.train import selection_score

    # level errors within 3 dB and absent output under -15 dB cost nothing
    assert selection_score(4.0, [-2.9, 1.0], [-30.0]) == 4.0
    # the step-33500 model's pattern: higher SI-SDRi, answers ~30 dB too quiet -> ranked below
    muted = selection_score(4.7, [-30.0, -33.0], [-40.0])
    assert muted == pytest.approx(4.7 - 0.5 * (27 + 30) / 2)
    assert muted < selection_score(4.2, [-1.0, 0.5], [-16.0])
    # absent output above the -15 dB target costs half a dB per dB
    assert selection_score(4.0, [0.0], [-11.0]) == pytest.approx(2.0)


def test_evaluate_reports_answers_at_the_wrong_level(tmp_path):
    """A separator that returns each true stem 26 dB too quiet: perfect SI-SDR, every answer muted."""
    from export.evaluate import evaluate, make_test_mixtures

    pool_dir = synthetic_pool(tmp_path / "pool", "test")
    mixes = make_test_mixtures(D.load_pool(pool_dir, "test"), 1, 1.0, 4242)
    target_of = {m["mix"].tobytes(): m["target"] for m in mixes}
    gain = 10 ** (-26 / 20)

    class QuietOracle:
        bundle = type("B", (), {"path": "oracle"})()

        def separate_many(self, mix, sr, queries):
            t = target_of[np.asarray(mix, np.float32).tobytes()]
            return [gain * t for _ in queries[:-1]] + [np.zeros_like(t)]

    res = evaluate(QuietOracle(), pool_dir, per_family=1, seconds=1.0, seed=4242, progress=False)
    for f, r in res["families"].items():
        assert r["level_db"] == pytest.approx(-26.0, abs=1e-3), f
        assert r["muted"] == 1.0 and r["si_sdri"] > 20
    assert res["summary"]["muted"] == 1.0


def test_evaluate_gives_the_mean_a_95_percent_interval_over_the_draw_of_mixtures(tmp_path):
    """The interval comes from each family's spread over its mixtures: a separator whose answer is the
    mix itself scores exactly 0 dB on every mixture (an interval of 0); one that leaks a tenth of the
    rest of the mix scores differently per mixture, and the interval is 1.96 sqrt(sum of the squared
    standard errors of the family means) / families, recomputed here with the statistics module."""
    import statistics

    from export.evaluate import evaluate, make_test_mixtures, markdown
    from export.metrics import si_sdr

    pool_dir = synthetic_pool(tmp_path / "pool", "test")
    pool = D.load_pool(pool_dir, "test")
    mixes = make_test_mixtures(pool, 3, 1.0, 4242)
    by_mix = {m["mix"].tobytes(): m for m in mixes + make_test_mixtures(pool, 1, 1.0, 4242)}

    class Leaky:
        def __init__(self, leak):
            self.leak = leak

        def separate_many(self, mix, sr, queries):
            m = by_mix[np.asarray(mix, np.float32).tobytes()]
            y = m["target"] + self.leak * (m["mix"] - m["target"])
            return [y for _ in queries[:-1]] + [np.zeros_like(y)]

    same = evaluate(Leaky(1.0), pool_dir, per_family=3, seconds=1.0, seed=4242, progress=False)
    assert same["summary"]["si_sdri"] == pytest.approx(0.0, abs=1e-6)
    assert same["summary"]["si_sdri_ci95"] == pytest.approx(0.0, abs=1e-6)

    res = evaluate(Leaky(0.1), pool_dir, per_family=3, seconds=1.0, seed=4242, progress=False)
    ses = []
    for fam in res["families"]:
        vals = []
        for m in mixes:
            if m["family"] == fam:
                y = m["target"] + 0.1 * (m["mix"] - m["target"])
                vals.append(si_sdr(m["target"], y) - si_sdr(m["target"], m["mix"]))
        se = statistics.stdev(vals) / len(vals) ** 0.5
        assert res["families"][fam]["si_sdri_se"] == pytest.approx(se, rel=1e-6), fam
        ses.append(se)
    ci = 1.96 * sum(x * x for x in ses) ** 0.5 / len(ses)
    assert ci > 1e-3 and res["summary"]["si_sdri_ci95"] == pytest.approx(ci, rel=1e-6)
    assert f"{res['summary']['si_sdri']:.2f} ± {ci:.2f}" in markdown(res)
    # one mixture per family has no spread to measure: no interval, and the table says so by omission
    one = evaluate(Leaky(0.1), pool_dir, per_family=1, seconds=1.0, seed=4242, progress=False)
    assert "si_sdri_ci95" not in one["summary"] and "±" not in markdown(one)


def test_paired_difference_of_two_evaluations():
    """Family A's differences are 1 and 3, family B's 2 and 2: the mean over families is 2, and the
    95 % half-width is 1.96 sqrt(var(1, 3) / 2 + 0) / 2 = 0.98. Different draws cannot be paired."""
    from export.evaluate import paired_difference

    a = [{"family": f, "si_sdri": v} for f, v in (("A", 1.0), ("A", 5.0), ("B", 4.0), ("B", 2.0))]
    b = [{"family": f, "si_sdri": v} for f, v in (("A", 0.0), ("A", 2.0), ("B", 2.0), ("B", 0.0))]
    d = paired_difference(a, b)
    assert d["mean"] == pytest.approx(2.0) and d["ci95"] == pytest.approx(0.98)
    assert paired_difference(a[::2], b[::2])["ci95"] is None  # one mixture per family: no spread to measure
    with pytest.raises(ValueError, match="same mixtures"):
        paired_difference(a, b[::-1])


def test_evaluate_cli_on_a_tiny_bundle(tmp_path, text_bundle, capsys):
    from export.evaluate import main

    pool = synthetic_pool(tmp_path / "pool", "test")
    rc = main(["--bundle", str(text_bundle), "--pool", str(pool), "--per-family", "1", "--seconds", "1.0",
               "--json", str(tmp_path / "eval.json")])
    assert rc == 0
    res = json.loads((tmp_path / "eval.json").read_text())
    assert set(res["families"]) == set(D.FAMILY_NAMES) and res["mixtures"] == len(D.FAMILY_NAMES)
    for r in res["families"].values():
        assert all(np.isfinite(v) for v in r.values())
    out = capsys.readouterr().out
    assert "| **mean over families** |" in out and "absent" in out and "muted answers" in out
    assert main(["--bundle", str(tmp_path / "nope"), "--pool", str(pool)]) == 2


def test_select_ranks_checkpoints_on_the_validation_split(tmp_path, capsys, monkeypatch):
    """Two tiny checkpoints with known answers: one passes the mixture through (SI-SDRi 0, the absent
    query gets the whole mix: 0 dB), one answers silence (every present answer muted). The tool's
    torch wrapper must reproduce them, and the ranking must follow export.train.selection_score."""
    from export.select import TorchQueries, main, score_checkpoint
    from export.train import DEFAULT_ARCH, DefaultModel, ResUNetConfig, save_checkpoint

    pool = synthetic_pool(tmp_path / "pool", "valid")
    cfg = ResUNetConfig.from_dict({**DEFAULT_ARCH.to_dict(), "widths": [4, 8, 8, 16, 16], "condition_dim": 16})

    def checkpoint(name, mask_bias):
        torch.manual_seed(0)
        m = DefaultModel(cfg)
        last = m.sep.base.after_conv
        with torch.no_grad():
            last.weight.zero_()
            last.bias.copy_(torch.tensor([mask_bias, 30.0, 0.0]))  # magnitude mask sigmoid(b), phase 0
        opt = torch.optim.AdamW(m.parameters())
        save_checkpoint(tmp_path / name, m, opt, {"step": 7 if mask_bias > 0 else 9, "phases": []})
        return m

    g = np.random.default_rng(1)
    fake = {}

    def embed(texts):  # fixed random "sentence embeddings", no MiniLM
        return np.stack([fake.setdefault(t, g.standard_normal(384).astype(np.float32)) for t in texts])

    through = checkpoint("through.pt", 30.0)
    checkpoint("silent.pt", -30.0)
    mix = g.standard_normal(D.SR).astype(np.float32) * 0.1
    out = TorchQueries(through.eval(), embed).separate_many(mix, D.SR, ["bass", "drums"])
    assert len(out) == 2 and si_sdr(mix, out[0]) > 30 and si_sdr(mix, out[1]) > 30  # mask 1, phase 0: the mix
    with pytest.raises(ValueError, match="Hz"):
        TorchQueries(through, embed).separate_many(mix, 44100, ["bass"])

    a = score_checkpoint(tmp_path / "through.pt", pool, per_family=1, seconds=1.0, embed=embed)
    b = score_checkpoint(tmp_path / "silent.pt", pool, per_family=1, seconds=1.0, embed=embed)
    assert a["step"] == 7 and abs(a["si_sdri"]) < 0.01 and abs(a["absent_db"]) < 0.01 and a["muted"] == 0
    assert b["muted"] == 1.0 and b["absent_db"] < -100
    assert a["score"] <= a["si_sdri"] - 0.5 * 15 + 0.01  # the pass-through pays the absent penalty (0 dB vs -15)
    assert a["score"] > b["score"]

    import export.select as S

    monkeypatch.setattr(S.TorchQueries, "embedding", lambda self, qs: embed(list(qs)))  # the CLI, fake text side
    rc = main([str(tmp_path / "silent.pt"), str(tmp_path / "through.pt"), "--pool", str(pool),
               "--per-family", "1", "--seconds", "1.0", "--threads", "1", "--json", str(tmp_path / "s.json")])
    assert rc == 0
    text = capsys.readouterr().out
    assert text.strip().splitlines()[-1].startswith(f"best: {tmp_path / 'through.pt'}")
    rows = json.loads((tmp_path / "s.json").read_text())
    assert [r["step"] for r in rows] == [9, 7]
    # the losing candidate carries its paired distance from the best, over the same mixtures
    assert [m["family"] for m in rows[0]["per_mixture"]] == [m["family"] for m in rows[1]["per_mixture"]]
    want = np.mean([np.mean([x["si_sdri"] - y["si_sdri"] for x, y in zip(rows[1]["per_mixture"], rows[0]["per_mixture"])
                             if x["family"] == f]) for f in D.FAMILY_NAMES])
    assert rows[0]["vs_best"]["si_sdri"]["mean"] == pytest.approx(want) and "vs_best" not in rows[1]
    assert f"SI-SDRi {want:+.2f} dB" in text
    assert main([str(tmp_path / "nope.pt"), "--pool", str(pool)]) == 2
    assert main([str(tmp_path / "through.pt"), "--pool", str(tmp_path / "empty")]) == 2
    # the model card says how the shipped checkpoint was chosen; a ranking without it is refused
    from export.default_bundle import main as bundle_main, selection_text

    card = selection_text({"steps": 7, "selection": json.dumps(rows)})
    assert card.startswith("- Checkpoint: step 7, chosen by `python -m export.select` on 14 validation mixtures")
    assert "among 2 candidates" in card and "step 9: score" in card
    (tmp_path / "only9.json").write_text(json.dumps([rows[0]]))
    assert bundle_main(["--checkpoint", str(tmp_path / "through.pt"), "--selection", str(tmp_path / "only9.json"),
                        "--out", str(tmp_path / "b"), "--no-eval"]) == 2
    assert not (tmp_path / "b").exists()


def test_model_card_shows_the_independent_held_out_results():
    """The card carries export.assess's tables for the reserved sources, with their means and worst
    family computed from those results, and says nothing of them when none were given."""
    from export.assess import summarise
    from export.default_bundle import card_independent

    def result(values):
        rows = [{"family": f, "si_sdri": v, "sdri": v + 2, "heldout_si_sdri": [v], "level_db": -1.0,
                 "absent_db": -15.0, "closest_ok": v > 0, "seconds": 1.0, "audio_s": 10.0}
                for f, vs in values.items() for v in vs]
        res = summarise(rows)
        res["command"] = "python -m export.assess --set x"
        return res

    freepats = result({"bass": [4.0, 6.0], "piano": [1.0, 3.0]})
    real = result({"drums": [3.0, 5.0], "electric guitar": [-9.0, -11.0]})
    text = "\n".join(card_independent({"summary": {"si_sdri": 5.0}}, freepats, real))
    assert "Independent held-out: another soundfont (freepats)" in text and "Independent held-out: real recordings" in text
    assert "3.5 dB on an unseen soundfont" in text  # mean over families of 5.0 and 2.0
    assert "-3.0 dB on recorded instruments (electric guitar -10.0 dB)" in text
    assert "against 5.0 dB on the test pool above" in text
    assert card_independent(None, None, None) == []
