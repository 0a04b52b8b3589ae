"""LSTM pooling: the last valid hidden state of an (optionally bidirectional) LSTM, or the
mean of its unit-length outputs over the real frames (the paper's code's readout)."""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from atr_bench.components.poolings.simple import normalised_mean


class LSTMPooling(nn.Module):
    """Runs an LSTM over the real frames only (packed sequences, so padding is never read) and
    returns the final hidden state of the last layer, both directions concatenated when
    bidirectional (``readout="normalised_mean"``: the mean of every real step's unit-length
    output instead). The mask must be a prefix (padding at the end), as the data layer makes
    it."""

    def __init__(
        self,
        in_dim: int,
        hidden: int = 512,
        layers: int = 1,
        bidirectional: bool = False,
        readout: str = "last",
    ):
        super().__init__()
        self.readout = readout
        self.directions = 2 if bidirectional else 1
        self.lstm = nn.LSTM(
            in_dim, hidden, num_layers=layers, batch_first=True, bidirectional=bidirectional
        )
        self.out_dim = hidden * self.directions

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        lengths = mask.sum(1).cpu()
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        steps, (h, _) = self.lstm(packed)
        if self.readout == "normalised_mean":
            out, _ = pad_packed_sequence(steps, batch_first=True, total_length=x.shape[1])
            return normalised_mean(out, mask)
        # h: [layers * directions, B, hidden], already in the batch's original order.
        return h[-self.directions :].transpose(0, 1).flatten(1)
