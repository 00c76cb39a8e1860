from harness.config.schema import HarnessConfig, register_configs

__all__ = ["HarnessConfig", "register_configs"]
