"""Speech beside CLIP: what is said in videos and audio files, transcribed once per content and found by its
words (`source`: speech as a text source of `search.sources`; same-sound lines count, as ASR errors in Chinese
are mostly homophones)."""
