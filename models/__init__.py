"""The learning system: configuration, network ensemble arrays, tasks, and the Mesa model."""

from models.config import ConfigError, SystemConfig
from models.learning_system import LearningSystem

__all__ = ["ConfigError", "LearningSystem", "SystemConfig"]
