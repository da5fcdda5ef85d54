"""kotae's trained extractive reader, the default answerer: question + passage in, answer span and no-answer score out.

The design of Haystack's ``ExtractiveReader``, DrQA and BERTserini: an encoder
(multilingual-e5-small, fine-tuned on JaQuAD and SQuAD) with a start/end head
reads the question beside each retrieved passage, in overlapping windows, and
scores every span against the window's no-answer score (its ``<s>`` token).
"""
