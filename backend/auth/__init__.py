"""Who is asking: principals and how requests authenticate."""
