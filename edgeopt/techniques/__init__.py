"""The techniques' model surgery: magnitude pruning (tfmot), the LightDense swap, and neuron and
channel elimination (`elimination/`). Stages in `edgeopt/stages/` are their thin recipe faces.
"""
