"""Strategy plugins shipped with Tradewire; referenced from config as ``strategies.<module>:<Class>``."""
