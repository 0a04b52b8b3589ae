"""Tiny random ``transformers`` models of real architectures, saved with ``save_pretrained``
into a folder (tokenizers from a vocabulary written here): what the hf tests load, offline."""

from __future__ import annotations

import json
import string
from pathlib import Path

SPECIAL = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
ROBERTA_SPECIAL = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
TEXT = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2}
MAX_TOKENS = 64
TEXT_SIZES = {**TEXT, "intermediate_size": 64, "max_position_embeddings": MAX_TOKENS}


def ast(folder: Path) -> Path:
    """AST: 32 mel bands, 128 filterbank frames (1.28 s), a 2 x 12 patch grid, 2 layers."""
    from transformers import ASTConfig, ASTFeatureExtractor, ASTModel

    config = ASTConfig(**TEXT, intermediate_size=64, num_mel_bins=32, max_length=128)
    ASTModel(config).save_pretrained(folder)
    ASTFeatureExtractor(num_mel_bins=32, max_length=128).save_pretrained(folder)
    return folder


def wav2vec2(folder: Path) -> Path:
    """wav2vec 2.0: two strided convolutions (20x: 800 frames/s), 2 layers."""
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    config = Wav2Vec2Config(
        **TEXT,
        intermediate_size=64,
        conv_dim=(16, 16),
        conv_stride=(5, 4),
        conv_kernel=(10, 8),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
    )
    Wav2Vec2Model(config).save_pretrained(folder)
    Wav2Vec2FeatureExtractor().save_pretrained(folder)
    return folder


def whisper(folder: Path) -> Path:
    """Whisper's encoder: 16 mel bands, 2 s windows (200 mel frames, 100 positions), 2 layers."""
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperModel

    config = WhisperConfig(
        vocab_size=64,
        d_model=32,
        encoder_layers=2,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        num_mel_bins=16,
        max_source_positions=100,
        max_target_positions=16,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=1,
    )
    WhisperModel(config).save_pretrained(folder)
    WhisperFeatureExtractor(feature_size=16, chunk_length=2).save_pretrained(folder)
    return folder


def _word_pieces() -> list[str]:
    letters = string.ascii_lowercase + string.digits
    return [*SPECIAL, *letters, *(f"##{c}" for c in letters), *string.punctuation]


def bert(folder: Path) -> Path:
    """BERT with a character-level word-piece vocabulary written here."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(_word_pieces()) + "\n")
    tokenizer = BertTokenizerFast(str(vocab), model_max_length=MAX_TOKENS)
    BertModel(BertConfig(vocab_size=len(_word_pieces()), **TEXT_SIZES)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def roberta_tokenizer(folder: Path):
    """A byte-level BPE tokenizer over single characters (no merges), written here."""
    from transformers import RobertaTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    vocab = {token: i for i, token in enumerate(ROBERTA_SPECIAL)}
    for char in string.ascii_letters + string.digits + string.punctuation:
        vocab.setdefault(char, len(vocab))
        vocab.setdefault(f"\u0120{char}", len(vocab))  # "Ġ": the byte-level space
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    merges = str(folder / "merges.txt")
    return RobertaTokenizer(str(folder / "vocab.json"), merges, model_max_length=MAX_TOKENS)


def roberta(folder: Path) -> Path:
    """RoBERTa with ``roberta_tokenizer``."""
    from transformers import RobertaConfig, RobertaModel

    tokenizer = roberta_tokenizer(folder)
    config = RobertaConfig(vocab_size=len(tokenizer), **TEXT_SIZES, pad_token_id=1)
    config.max_position_embeddings = MAX_TOKENS + 2  # its positions start after the padding
    RobertaModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def clap(folder: Path) -> Path:
    """CLAP: a 1-layer RoBERTa text tower and a 2-stage HTSAT audio tower, 16-d shared space,
    16 kHz audio of up to 2 s (no random crops: longer clips are refused by the test)."""
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel, ClapProcessor

    tokenizer = roberta_tokenizer(folder.with_name(f"{folder.name}-vocab"))
    text = {**TEXT_SIZES, "num_hidden_layers": 1, "vocab_size": len(tokenizer)}
    text["max_position_embeddings"] = MAX_TOKENS + 2  # RoBERTa's: after the padding index
    audio = {
        "spec_size": 128,
        "num_mel_bins": 64,
        "window_size": 4,
        "depths": [1, 1],
        "num_attention_heads": [2, 2],
        "patch_embeds_hidden_size": 16,
        "hidden_size": 32,
        "num_hidden_layers": 2,
    }
    ClapModel(ClapConfig(text_config=text, audio_config=audio, projection_dim=16)).save_pretrained(
        folder
    )
    features = ClapFeatureExtractor(
        feature_size=64,
        sampling_rate=16000,
        hop_length=160,
        max_length_s=2,
        fft_window_size=1024,
        frequency_max=8000,
        truncation="rand_trunc",
    )
    ClapProcessor(feature_extractor=features, tokenizer=tokenizer).save_pretrained(folder)
    return folder
