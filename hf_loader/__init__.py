"""The AHU ultrasound database as a Hugging Face `datasets` dataset."""
