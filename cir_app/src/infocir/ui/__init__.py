"""The Dash dashboard: the only package that imports dash. It wires panels to the engine."""
