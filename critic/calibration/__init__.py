"""Can you trust your judge? Calibration against labelled data, and bias probes."""
