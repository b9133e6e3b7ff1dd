"""Code that writes the Triton model repository: the model catalog (one declaration per model), serving profiles,
the serving plan (effective settings, computed once), pbtxt rendering and assembly on disk."""
