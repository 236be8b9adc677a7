"""Pure data conversion for tool-use training (no verl import).

Readers and writers for tool-use datasets (OpenAI messages, ShareGPT, BFCL, TL-Training's raw
format) and MAE feedback classification land here with the data-pipeline work; the reward reads
the plain-JSON ground truth and tool schemas that those converters write.
"""
