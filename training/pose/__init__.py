"""6-DoF object pose: crops from synthetic scenes, losses, evaluation and the two tasks."""
