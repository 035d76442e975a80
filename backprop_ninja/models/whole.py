"""The whole-model katas (08, 12) as plain data, free of torch: `train --model`'s names, their stubs' classes."""

#: `train --model NAME` -> the kata whose backward trains it (models/gpt_trace.MODELS holds the models)
KATAS = {"gpt": "08_gpt", "llama": "12_llama"}

#: kata folder -> the classes its stub holds, each with its own `backward` (the learner's, not autograd's)
LAYER_CLASSES = {
    "08_gpt": ("layernorm", "attention", "mlp"),
    "12_llama": ("rmsnorm", "rope", "swiglu", "attention"),
}
