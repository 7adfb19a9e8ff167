"""What each candidate default speech model costs on this CPU, for choosing `DEFAULT_MODELS`
(search/speech/engine.py), with nothing downloaded.

Whisper `small` and `large-v3-turbo` are built here with random weights in their real shapes (transformers ->
CTranslate2 int8, as faster-whisper runs them): compute depends on the shapes, not on the weights' values.
Whisper base is the real test model (`whisper_base_dir`), also timed transcribing through zhclip's engine.
For each, on a 30 s window of espeak-ng Mandarin:
the encoder's CPU time, and the decoder's CPU time per token (beam 5, end-of-text suppressed so that every
model writes the same number of tokens). The real-time factor for Mandarin is estimated as 30 s divided by
(encoder + window tokens x time per token) CPU seconds shared by the threads, where the window's tokens are
natural speech at `--chars-per-second` characters times Whisper's tokens per character (measured on the test
sentences), plus the prompt and a timestamp pair per segment. CPU times of the process (all threads) are used
because a loaded machine stretches wall time far more; the estimate assumes the threads scale perfectly (an
upper bound). Quality is not measured here (random weights).

    .venv/bin/python benchmarks/speech_cost.py [--threads 1 2]  # -> results/machines/<kind>/speech_cost.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from zhclip.bench.results import table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results_json import save  # noqa: E402

SHAPES = {  # transformers WhisperConfig fields of the released models
    "small": dict(d_model=768, encoder_layers=12, decoder_layers=12, heads=12, ffn=3072, mels=80),
    "large-v3-turbo": dict(d_model=1280, encoder_layers=32, decoder_layers=4, heads=20, ffn=5120, mels=128),
}
SENTENCES = [
    "我们明天去北京",
    "这款手机的电池可以用很久",
    "我喜欢吃苹果",
    "我们一起去看电影吧",
    "火车站在哪里",
    "欢迎来到上海",
    "这本书非常有意思",
    "周末一起去爬山",
]
SEGMENT_SECONDS = 4.0  # a timestamp pair per segment of about this length


def random_model(name: str, base: Path, folder: Path) -> Path:
    """`name`'s shapes with random weights, converted for CTranslate2 (int8) beside base's tokenizer."""
    import ctranslate2
    import torch
    from transformers import WhisperConfig, WhisperForConditionalGeneration, WhisperTokenizerFast

    shape = SHAPES[name]
    config = WhisperConfig(
        vocab_size=51865,
        num_mel_bins=shape["mels"],
        d_model=shape["d_model"],
        encoder_layers=shape["encoder_layers"],
        decoder_layers=shape["decoder_layers"],
        encoder_attention_heads=shape["heads"],
        decoder_attention_heads=shape["heads"],
        encoder_ffn_dim=shape["ffn"],
        decoder_ffn_dim=shape["ffn"],
    )
    torch.manual_seed(0)
    hf, out = folder / f"{name}-hf", folder / name
    WhisperForConditionalGeneration(config).save_pretrained(hf)
    WhisperTokenizerFast(tokenizer_file=str(base / "tokenizer.json")).save_pretrained(hf)
    ctranslate2.converters.TransformersConverter(str(hf)).convert(str(out), quantization="int8", force=True)
    shutil.rmtree(hf)
    (out / "preprocessor_config.json").write_text(json.dumps({"feature_size": shape["mels"]}))
    return out


def spoken_window(folder: Path) -> np.ndarray:
    """30 s of the test sentences, spoken one after another (16 kHz mono)."""
    from zhclip.data.synth.speech import speak
    from zhclip.media.audio import SAMPLE_RATE, read_audio

    parts = []
    for n, sentence in enumerate(SENTENCES * 2):
        speak(sentence, folder / f"{n}.wav", silence_after=0.3)
        parts.append(read_audio(folder / f"{n}.wav"))
    return np.concatenate(parts)[: 30 * SAMPLE_RATE]


def tokens_per_character(base: Path) -> float:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(base / "tokenizer.json"))
    return sum(len(tokenizer.encode(s, add_special_tokens=False).ids) for s in SENTENCES) / sum(map(len, SENTENCES))


def measure(model_dir: Path, mels: int, samples: np.ndarray, threads: int, tokens: int, repeats: int) -> dict:
    import ctranslate2
    from faster_whisper.feature_extractor import FeatureExtractor

    model = ctranslate2.models.Whisper(str(model_dir), device="cpu", compute_type="int8", intra_threads=threads)
    features = FeatureExtractor(feature_size=mels)(samples)[:, :3000]
    view = ctranslate2.StorageView.from_array(np.ascontiguousarray(features[None], dtype=np.float32))
    prompt = [[50258, 50260, 50359]]  # start of transcript, zh, transcribe (timestamps on)
    encoder = _best(lambda: model.encode(view), repeats)
    written = model.generate(view, prompt, beam_size=5, max_length=tokens, suppress_tokens=[-1, 50257])
    made = len(written[0].sequences_ids[0])
    both = _best(lambda: model.generate(view, prompt, beam_size=5, max_length=tokens, suppress_tokens=[-1, 50257]), 1)
    return {
        "encoder_cpu_s": round(encoder, 3),
        "tokens": made,
        "per_token_cpu_s": round(max(0.0, both - encoder) / made, 4),
    }


def transcribing(base: Path, samples: np.ndarray, threads: int) -> dict:
    """The test model through zhclip's engine (VAD, guards, beam 5, temperature fallbacks) on the window."""
    from zhclip.search.speech.engine import SpeechEngine, SpeechOptions

    engine = SpeechEngine(SpeechOptions(str(base), threads=threads))
    wall, cpu = time.perf_counter(), time.process_time()
    lines = engine.transcribe(samples, "zh")
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    seconds = len(samples) / 16_000
    found = {"threads": threads, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "lines": len(lines)}
    found |= {
        "real_time_factor_wall": round(seconds / wall, 2),
        "real_time_factor_cpu": round(seconds / (cpu / threads), 2),
    }
    print("base transcribing", threads, json.dumps(found), flush=True)
    return found


def _best(call, repeats: int) -> float:
    """The least CPU time (every thread of this process) of `repeats` calls: a loaded machine stretches wall time
    far more than CPU time."""
    times = []
    for _ in range(repeats):
        started = time.process_time()
        call()
        times.append(time.process_time() - started)
    return min(times)


def run(args: argparse.Namespace) -> dict:
    from zhclip.data.synth.speech import whisper_base_dir

    with tempfile.TemporaryDirectory(prefix="zhclip-speech-cost-") as scratch:
        folder = Path(scratch)
        base = whisper_base_dir(folder)
        models = {"base": (base, 80)} | {n: (random_model(n, base, folder), s["mels"]) for n, s in SHAPES.items()}
        samples = spoken_window(folder)
        per_char = tokens_per_character(base)
        window_tokens = 30 * args.chars_per_second * per_char + 3 + 2 * 30 / SEGMENT_SECONDS
        results: dict[str, dict] = {}
        for name, (directory, mels) in models.items():
            for threads in args.threads:
                cost = {"model": name, "threads": threads}
                cost |= measure(directory, mels, samples, threads, args.tokens, args.repeats)
                cpu = cost["encoder_cpu_s"] + window_tokens * cost["per_token_cpu_s"]
                cost["window_cpu_s"] = round(cpu, 2)
                cost["estimated_real_time_factor"] = round(30 / (cpu / threads), 2)  # threads fully busy, no waits
                results[f"{name}, {threads} thread{'s' if threads > 1 else ''}"] = cost
                print(name, threads, json.dumps(cost), flush=True)
        for threads in args.threads:
            results[f"base transcribing with zhclip's engine, {threads} threads"] = transcribing(base, samples, threads)
    return {
        "tokens_per_character": round(per_char, 3),
        "window_tokens": round(window_tokens, 1),
        "config": vars(args),
        "results": results,
    }


def cost_tables(report: dict) -> list[dict]:
    """The estimates per model and threads, and the test model transcribing through the engine."""
    results = report["results"].values()
    estimates = [
        [r["model"], r["threads"], r["encoder_cpu_s"], r["tokens"], r["per_token_cpu_s"], r["window_cpu_s"],
         r["estimated_real_time_factor"]]
        for r in results
        if "model" in r
    ]  # fmt: skip
    engine = [
        [r["threads"], r["wall_s"], r["cpu_s"], r["lines"], r["real_time_factor_wall"], r["real_time_factor_cpu"]]
        for r in results
        if "wall_s" in r
    ]
    return [
        table(
            f"CPU cost per 30 s window of Mandarin (int8, beam 5; {report['window_tokens']} tokens a window)",
            [
                "model",
                "threads",
                "encoder CPU s",
                "tokens timed",
                "CPU s per token",
                "window CPU s",
                "estimated real time x (upper bound)",
            ],
            estimates,
        ),  # fmt: skip
        table(
            "Whisper base (test weights) transcribing the window through zhclip's engine (VAD, guards, fallbacks)",
            ["threads", "wall s", "CPU s", "lines", "real time x (wall)", "real time x (CPU time / threads)"],
            engine,
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="CTranslate2 CPU threads")
    parser.add_argument("--tokens", type=int, default=64, help="tokens each model writes for the per-token time")
    parser.add_argument("--chars-per-second", type=float, default=4.5, help="natural Mandarin speech rate")
    parser.add_argument("--repeats", type=int, default=2, help="encoder runs (the fastest counts)")
    args = parser.parse_args(argv)
    report = run(args)
    notes = [
        "small and large-v3-turbo have random weights in their real shapes (the same compute); quality is not "
        "measured here. base is the real test model.",
        "Estimated real time x = 30 s / ((encoder + window tokens x per token) CPU seconds / threads): an upper "
        "bound, as if the threads never wait. CPU times of the process, because a loaded machine stretches wall "
        "time far more; on this shared, loaded machine only same-run ratios mean much.",
    ]
    save("speech_cost", "What each candidate default speech model costs on this CPU", cost_tables(report),
         notes=notes, data=report)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
