"""Topic extraction with no model at all: TF-IDF + NMF, k chosen by coherence.

    python examples/tasks_topics.py

Prints the topics found in twelve short documents about three subjects, each with
its keywords, its documents and its NPMI coherence, then which topic each document
got. Add model="mini" (or any model id) to extract_topics to have a model label them.
"""

from llmkit.tasks import extract_topics

DOCUMENTS = [
    "The rocket launch put a new satellite into orbit around the planet.",
    "Knead the dough with flour and butter, then bake the bread in a hot oven.",
    "The striker scored a late goal and the team won the league match.",
    "Astronauts on the space station watched the rocket reach orbit.",
    "Mix flour, butter and sugar for the cake, then bake it in the oven.",
    "The goalkeeper saved a penalty in the final minutes of the match.",
    "A telescope in orbit photographed a distant planet and a galaxy.",
    "This bread recipe needs flour, butter and sugar, and a hot oven to bake the dough.",
    "The referee gave a penalty and the striker scored the goal.",
    "The satellite reached orbit after the rocket launch from the coast.",
    "Melt the butter with the sugar, add flour and bake the dough in the oven.",
    "Fans filled the stadium to watch the league match and the goal.",
]

topics = extract_topics(DOCUMENTS)
print(f"{topics.k} topics (k chosen by {topics.k_by}): NPMI {topics.coherence:.2f}, diversity {topics.diversity:.2f}")
for i, topic in enumerate(topics.topics):
    words = ", ".join(f"{w} ({weight:.2f})" for w, weight in topic.keywords[:5])
    print(f"topic {i}: {topic.label!r}, {topic.size} documents, NPMI {topic.coherence:.2f}: {words}")
for doc, topic in zip(DOCUMENTS, topics.assignments, strict=True):
    print(f"  [{topic}] {doc}")
