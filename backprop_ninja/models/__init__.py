"""The models as data: the lecture's MLP, the GPT, the kata registry, the dataset."""
