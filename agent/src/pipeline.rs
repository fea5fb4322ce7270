//! The scan pipeline: wires a frame source through decode, flows and HTTP to observations.
