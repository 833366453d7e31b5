"""The feature pipeline: open_clip backbones, the on-disk feature cache, and each dataset's features under a backbone
(real or embedded), ready for the evaluation protocols (`flexcoder.protocols`)."""
