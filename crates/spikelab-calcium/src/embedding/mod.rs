//! Statistical embedding of calcium recordings (Rupprecht & Gerhard, Spikefinder 2017).
