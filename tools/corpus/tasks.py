"""Offline task generator for the adapter corpus.

Every task is produced from hand-written templates and word lists, with a fixed seed, so the
corpus can be regenerated bit for bit without downloading any data set. Tasks come in families;
tasks of one family share their labels and the label descriptions used by the frozen head, and
differ in domain and style.
"""
import random
import re

# ---------------------------------------------------------------------------------------------
# Label descriptions (the frozen head compares text embeddings with these sentences).
# ---------------------------------------------------------------------------------------------
FAMILY_LABELS = {
    "sentiment": {
        "negative": "this text expresses a negative opinion",
        "positive": "this text expresses a positive opinion",
    },
    "topic": {
        "sports": "this text is about sports",
        "politics": "this text is about politics and government",
        "technology": "this text is about technology and computers",
        "finance": "this text is about money, markets and business",
    },
    "intent": {
        "information": "the user asks for information",
        "action": "the user asks for something to be done",
        "complaint": "the user complains about a problem",
    },
    "formality": {
        "formal": "this text is written in a formal style",
        "informal": "this text is written in a casual informal style",
    },
    "toxicity": {
        "polite": "this text is polite and respectful",
        "rude": "this text is rude and insulting",
    },
}

# ---------------------------------------------------------------------------------------------
# Grammar helpers: "{slot}" expands recursively from the lexicon.
# ---------------------------------------------------------------------------------------------
_SLOT = re.compile(r"\{(\w+)\}")


def expand(template, lex, rng, depth=0):
    if depth > 8:
        return template

    def pick(m):
        choices = lex[m.group(1)]
        return expand(rng.choice(choices), lex, rng, depth + 1)

    return _SLOT.sub(pick, template)


def tidy(text):
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"\s+([,.!?])", r"\1", text)
    return text.lower()


# ---------------------------------------------------------------------------------------------
# Sentiment family: product, movie, restaurant reviews and tweets.
# Hard cases: negated praise / negated criticism, "but" clauses where the second half decides,
# neutral filler.
# ---------------------------------------------------------------------------------------------
_SENT_COMMON = {
    "filler": ["", "", "", "i bought it last month.", "my sister recommended it.",
               "i went there on a tuesday.", "just my two cents.", "long story short,",
               "honestly,", "to be fair,", "update:", "after a few weeks,"],
    "intens": ["really", "truly", "absolutely", "pretty", "quite", "so", "very", "surprisingly"],
    "gpos": ["great", "excellent", "wonderful", "fantastic", "lovely", "impressive", "superb",
             "delightful", "solid", "brilliant"],
    "gneg": ["awful", "terrible", "disappointing", "poor", "dreadful", "mediocre", "bad",
             "frustrating", "useless", "annoying"],
}

SENTIMENT_DOMAINS = {
    "product_reviews": {
        "thing": ["blender", "vacuum cleaner", "pair of headphones", "backpack", "phone case",
                  "kettle", "desk lamp", "office chair", "toaster", "keyboard", "water bottle",
                  "electric toothbrush", "hair dryer", "power bank", "coffee grinder"],
        "ppos": ["works perfectly", "was worth every penny", "arrived early and well packed",
                 "feels sturdy", "exceeded my expectations", "is easy to set up",
                 "still runs like new", "does exactly what it promises"],
        "pneg": ["stopped working after a week", "feels cheap and flimsy",
                 "arrived broken", "is a waste of money", "broke on the second day",
                 "never charged properly", "is far too loud", "fell apart quickly"],
    },
    "movie_reviews": {
        "thing": ["film", "movie", "sequel", "documentary", "thriller", "comedy", "drama",
                  "animated feature", "horror flick", "romance"],
        "ppos": ["kept me on the edge of my seat", "has a moving story", "had stunning visuals",
                 "features brilliant acting", "is a joy to watch", "has a clever plot",
                 "made the whole audience laugh", "has an unforgettable soundtrack"],
        "pneg": ["dragged on forever", "has a predictable plot", "features wooden acting",
                 "put me to sleep", "has terrible dialogue", "is a mess from start to finish",
                 "wasted a great cast", "made no sense at all"],
    },
    "restaurant_reviews": {
        "thing": ["pasta", "burger", "sushi", "service", "steak", "pizza", "dessert menu",
                  "brunch", "curry", "seafood platter", "wine list", "little bistro"],
        "ppos": ["was cooked to perfection", "tasted amazing", "came out hot and fast",
                 "was friendly and attentive", "is worth the trip", "was fresh and generous",
                 "made our evening", "had a cozy atmosphere"],
        "pneg": ["was cold and bland", "took an hour to arrive", "was greasy and overpriced",
                 "was rude and slow", "made me sick", "was undercooked",
                 "tasted like cardboard", "ruined our anniversary"],
    },
    "tweets": {
        "thing": ["new update", "concert last night", "train ride", "weekend", "new album",
                  "game tonight", "morning coffee", "new phone", "vacation", "first day at work"],
        "ppos": ["made my day", "was lit", "is a total vibe", "was so worth it",
                 "has me smiling", "went better than expected", "is goals", "slaps"],
        "pneg": ["ruined my day", "was a total flop", "is the worst", "has me so mad",
                 "went horribly wrong", "was a joke", "is so trash", "let me down again"],
        "tag": ["", "", "#blessed", "#fail", "#mood", "#mondays", "@friend", "smh", "lol", "ugh"],
    },
}

_SENT_TEMPLATES = {
    "positive": [
        "{filler} the {thing} {ppos}.",
        "{filler} the {thing} is {intens} {gpos}.",
        "i was worried, but the {thing} {ppos}.",
        "the {thing} is not {gneg} at all, it {ppos}.",
        "i expected the {thing} to be {gneg}, yet it {ppos}.",
        "no complaints: the {thing} {ppos}.",
        "{filler} i would happily recommend the {thing}, it is {gpos}.",
    ],
    "negative": [
        "{filler} the {thing} {pneg}.",
        "{filler} the {thing} is {intens} {gneg}.",
        "it looked promising, but the {thing} {pneg}.",
        "the {thing} is not {gpos} at all, it {pneg}.",
        "i expected the {thing} to be {gpos}, yet it {pneg}.",
        "i cannot say the {thing} {ppos}; it {pneg}.",
        "{filler} i would never recommend the {thing}, it is {gneg}.",
    ],
}


def _sentiment_task(domain):
    lex = dict(_SENT_COMMON)
    lex.update(SENTIMENT_DOMAINS[domain])
    templates = {k: list(v) for k, v in _SENT_TEMPLATES.items()}
    if domain == "tweets":
        templates = {k: [t + " {tag}" for t in v] for k, v in templates.items()}
    return lex, templates


# ---------------------------------------------------------------------------------------------
# Topic family: news headlines, forum posts, radio bulletins.
# ---------------------------------------------------------------------------------------------
_TOPIC_LEX = {
    # context phrases from the other topics: they do not decide the label
    "dx": ["", "", "", "speaking at the tech conference,", "during the football match,",
           "at parliament today,", "on the trading floor,", "in a stadium interview,",
           "at the bank's annual gala,", "in a live stream on a new app,",
           "at the election rally,", "between two tennis sets,", "after the budget speech,",
           "while markets were closed,", "on a gaming podcast,"],
    "team": ["city rovers", "the harbor sharks", "united", "the northern bears", "real valley",
             "the lakers of riverton", "westside athletic", "the red falcons"],
    "sport_evt": ["the cup final", "the league opener", "a penalty shootout", "the derby",
                  "the marathon", "the tennis open", "the swimming championship",
                  "the grand prix"],
    "athlete": ["the striker", "the goalkeeper", "the sprinter", "the veteran coach",
                "the star quarterback", "the young midfielder", "the champion boxer"],
    "sport_act": ["scores a late winner in", "is injured before", "sets a new record at",
                  "is suspended after", "celebrates victory in", "loses badly in"],
    "pol_actor": ["the senate", "the prime minister", "the opposition leader", "parliament",
                  "the mayor", "the governor", "the foreign minister", "lawmakers"],
    "pol_act": ["passes a new bill on", "debates a reform of", "faces a vote on",
                "announces an inquiry into", "rejects the proposal on", "campaigns on"],
    "pol_obj": ["immigration", "the election law", "healthcare", "the budget deficit",
                "climate policy", "voting rights", "public pensions", "border security"],
    "tech_actor": ["a startup", "the chip maker", "engineers", "the software giant",
                   "researchers", "the app developer", "a robotics lab", "the browser team"],
    "tech_act": ["releases", "unveils", "patches a bug in", "open sources", "tests",
                 "ships an update to", "recalls"],
    "tech_obj": ["a faster processor", "a new smartphone", "its cloud platform",
                 "an ai chatbot", "the operating system", "a quantum computer prototype",
                 "a security flaw", "a new programming language"],
    "fin_actor": ["the central bank", "investors", "the stock market", "shareholders",
                  "the retail chain", "a hedge fund", "the insurer", "bond traders"],
    "fin_act": ["raises interest rates amid", "reports record profits despite",
                "sells shares after", "cuts its forecast because of", "rallies on",
                "slumps after"],
    "fin_obj": ["inflation fears", "weak quarterly earnings", "a merger deal",
                "rising oil prices", "a currency crash", "strong dividends", "a debt downgrade"],
}

TOPIC_STYLES = {
    "news_headlines": {
        "sports": ["{dx} {athlete} {sport_act} {sport_evt}", "{dx} {team} beat {team} in {sport_evt}",
                   "{dx} {team} sign {athlete} ahead of {sport_evt}"],
        "politics": ["{dx} {pol_actor} {pol_act} {pol_obj}", "{dx} vote on {pol_obj} splits {pol_actor}",
                     "{dx} {pol_actor} under pressure over {pol_obj}"],
        "technology": ["{dx} {tech_actor} {tech_act} {tech_obj}", "{dx} {tech_obj} draws crowds at expo",
                       "{dx} {tech_actor} delays {tech_obj}"],
        "finance": ["{dx} {fin_actor} {fin_act} {fin_obj}", "{dx} {fin_obj} hits {fin_actor}",
                    "{dx} {fin_actor} brace for {fin_obj}"],
    },
    "forum_posts": {
        "sports": ["{dx} anyone else watch {sport_evt}? {athlete} was unreal",
                   "{dx} hot take: {team} will never win {sport_evt}",
                   "{dx} can't believe {athlete} {sport_act} {sport_evt}, thoughts?"],
        "politics": ["{dx} so {pol_actor} {pol_act} {pol_obj}, what do you all think?",
                     "{dx} unpopular opinion: {pol_actor} is wrong about {pol_obj}",
                     "{dx} who else is following the fight over {pol_obj}?"],
        "technology": ["{dx} just read that {tech_actor} {tech_act} {tech_obj}, worth the hype?",
                       "{dx} my take on {tech_obj}: overrated or not?",
                       "{dx} has anyone tried {tech_obj} yet?"],
        "finance": ["{dx} looks like {fin_actor} {fin_act} {fin_obj}, should i sell?",
                    "{dx} is anyone else worried about {fin_obj}?",
                    "{dx} my portfolio after {fin_obj} is not pretty"],
    },
    "radio_bulletins": {
        "sports": ["{dx} this just in from the stadium: {athlete} {sport_act} {sport_evt}",
                   "{dx} and in the results tonight, {team} edge {team} at {sport_evt}"],
        "politics": ["{dx} our correspondent at the capital reports that {pol_actor} {pol_act} {pol_obj}",
                     "{dx} coming up after the break: {pol_actor} and the row over {pol_obj}"],
        "technology": ["{dx} from the world of gadgets: {tech_actor} {tech_act} {tech_obj}",
                       "{dx} listeners ask us about {tech_obj}; here is what {tech_actor} said"],
        "finance": ["{dx} on the markets this hour, {fin_actor} {fin_act} {fin_obj}",
                    "{dx} business news: {fin_actor} react to {fin_obj}"],
    },
}

# ---------------------------------------------------------------------------------------------
# Intent family: banking, travel, smart home. information / action / complaint.
# ---------------------------------------------------------------------------------------------
INTENT_DOMAINS = {
    "banking": {
        "info": ["what my current balance is", "when my salary arrives", "what the fee for wires is",
                 "how much interest my savings earn", "which branches open on sunday",
                 "what my credit limit is", "when the card statement closes"],
        "act": ["transfer fifty dollars to my savings", "block my debit card", "pay my phone bill",
                "open a new savings account", "raise my credit limit", "send money to my landlord",
                "cancel the standing order"],
        "problem": ["charged me twice for the same coffee", "declined my card at the shop",
                    "lost my deposit", "kept me on hold for an hour",
                    "locked me out of the app again", "took a fee i never agreed to"],
        "who": ["the bank", "your app", "the atm", "the branch", "customer service"],
    },
    "travel": {
        "info": ["when my flight to lisbon departs", "how much luggage i can bring",
                 "whether the hotel has free parking", "which gate the train leaves from",
                 "if breakfast is included", "how long the layover in rome is",
                 "what the visa rules are"],
        "act": ["book a window seat to madrid", "cancel my hotel reservation",
                "change my flight to friday", "rent a car at the airport",
                "add a bag to my booking", "reserve a table on the cruise", "upgrade my room"],
        "problem": ["lost my suitcase", "cancelled my flight without notice",
                    "gave my room to someone else", "overbooked the train",
                    "charged me for a seat i never got", "left us waiting for three hours"],
        "who": ["the airline", "the hotel", "your agency", "the rail company", "the shuttle"],
    },
    "smart_home": {
        "info": ["what the temperature in the bedroom is", "whether the front door is locked",
                 "how much power the heater used today", "if the washing machine is done",
                 "when the vacuum last ran", "what is on my shopping list",
                 "whether the garage is open"],
        "act": ["turn off the kitchen lights", "set the thermostat to twenty degrees",
                "lock the front door", "start the robot vacuum", "play some jazz in the living room",
                "open the blinds", "dim the bedroom lamp"],
        "problem": ["keeps turning the lights on at night", "never hears my commands",
                    "unlocked the door by itself", "drained the battery in a day",
                    "plays the wrong music every time", "forgot all my routines again"],
        "who": ["the speaker", "the thermostat", "this assistant", "the camera", "the hub"],
    },
}

_INTENT_COMMON = {
    "pre": ["", "", "hi,", "hello,", "good morning,", "sorry to bother you,", "hey there,",
            "excuse me,", "one more thing,", "urgent:"],
    "post": ["", "", "thanks.", "thank you!", "asap.", "before friday.", "for my mother.",
             "if possible.", "again.", "today."],
}

_INTENT_TEMPLATES = {
    "information": ["{pre} could you tell me {info}? {post}", "{pre} i would like to know {info}. {post}",
                    "{pre} quick question: {info}? {post}", "{pre} please let me know {info}. {post}",
                    "{pre} do you know {info}? {post}", "{pre} i am curious {info}. {post}"],
    "action": ["{pre} please {act}. {post}", "{pre} could you {act}? {post}",
               "{pre} i need you to {act}. {post}", "{pre} {act} now. {post}",
               "{pre} would you mind if you {act} for me? {post}", "{pre} can you {act} please? {post}"],
    "complaint": ["{pre} {who} {problem}. {post}", "{pre} i am fed up, {who} {problem}. {post}",
                  "{pre} this is unacceptable: {who} {problem}. {post}",
                  "{pre} why has {who} {problem}? {post}", "{pre} not happy at all, {who} {problem}. {post}",
                  "{pre} please note that {who} {problem}. {post}"],
}

# ---------------------------------------------------------------------------------------------
# Formality family: workplace emails and customer letters, formal vs informal.
# ---------------------------------------------------------------------------------------------
FORMALITY_DOMAINS = {
    "workplace_emails": {
        "subj": ["the quarterly report", "tomorrow's meeting", "the project deadline",
                 "the budget review", "the new hire's onboarding", "the client presentation",
                 "the office move", "the team offsite", "the hiring plan", "the sales figures",
                 "the server migration", "the training schedule"],
    },
    "customer_letters": {
        "subj": ["my recent order", "the refund request", "the delivery schedule",
                 "my subscription", "the warranty claim", "the invoice from march",
                 "the damaged parcel", "my loyalty points", "the replacement part",
                 "the booking fee", "my change of address", "the missing receipt"],
    },
}

_FORMALITY_COMMON = {
    "fpost": ["", "", "yours sincerely.", "with best regards.", "respectfully yours.",
              "thank you in advance."],
    "ipost": ["", "", "ttyl", "xoxo", "see ya", "k thx bye", "!!"],
}

_FORMALITY_TEMPLATES = {
    "formal": ["dear colleague, i am writing regarding {subj}. {fpost}",
               "i would be grateful if you could provide an update on {subj}. {fpost}",
               "please find attached the documents concerning {subj}. {fpost}",
               "further to our conversation, i wish to confirm {subj}. {fpost}",
               "we kindly request your assistance with {subj} at your earliest convenience. {fpost}",
               "thank you for your correspondence regarding {subj}; we shall respond shortly. {fpost}",
               "i regret to inform you that {subj} has been postponed. {fpost}",
               "should you require further details on {subj}, do not hesitate to contact me. {fpost}"],
    "informal": ["hey, any news on {subj}? {ipost}",
                 "yo, did you sort out {subj} yet? {ipost}",
                 "quick one - {subj} is done, right? {ipost}",
                 "ugh, {subj} again. can we chat later? {ipost}",
                 "lol i totally forgot about {subj}, my bad {ipost}",
                 "hiya! just checking in on {subj}, no rush :) {ipost}",
                 "so {subj} is kinda a mess haha {ipost}",
                 "gonna deal with {subj} tmrw ok? {ipost}"],
}

# ---------------------------------------------------------------------------------------------
# Toxicity family: forum comments and game chat, polite vs rude.
# ---------------------------------------------------------------------------------------------
TOXICITY_DOMAINS = {
    "forum_comments": {
        "obj": ["your post", "this guide", "your argument", "the article", "your photo",
                "this tutorial", "your review", "your comment", "this thread", "your blog",
                "the summary", "your question"],
        "tpost": ["", "", "just saying.", "edit: typo.", "op,", "cheers.", "fyi."],
    },
    "game_chat": {
        "obj": ["your play", "that last round", "your build", "the team strategy",
                "your aim", "that move", "your call", "your loadout", "that rush", "your defense",
                "the last match", "your rotation"],
        "tpost": ["", "", "gg", "noob", "ez", "wp", "lag"],
    },
}

_TOXICITY_TEMPLATES = {
    "polite": ["thanks for sharing {obj}, i learned a lot. {tpost}",
               "i respectfully disagree with {obj}, but i see your point. {tpost}",
               "nice work on {obj}, keep it up. {tpost}",
               "could you explain {obj} a bit more? thank you. {tpost}",
               "i appreciate {obj}, even if it was not perfect. {tpost}",
               "good effort on {obj}, we will get them next time. {tpost}",
               "{obj} was not bad at all, well done. {tpost}",
               "no worries about {obj}, everyone makes mistakes. {tpost}"],
    "rude": ["{obj} is garbage, just like you. {tpost}",
             "shut up, nobody cares about {obj}. {tpost}",
             "what an idiot, {obj} was pathetic. {tpost}",
             "{obj} is the dumbest thing i have seen, uninstall. {tpost}",
             "you clown, {obj} makes me sick. {tpost}",
             "get lost, {obj} is worthless trash. {tpost}",
             "thanks for nothing, {obj} was a joke. {tpost}",
             "nice job ruining everything with {obj}, moron. {tpost}"],
}


# ---------------------------------------------------------------------------------------------
# Task table
# ---------------------------------------------------------------------------------------------
def _task_table():
    tasks = {}
    for d in SENTIMENT_DOMAINS:
        lex, tpl = _sentiment_task(d)
        tasks[f"sentiment_{d}"] = ("sentiment", lex, tpl)
    for s, tpl in TOPIC_STYLES.items():
        tasks[f"topic_{s}"] = ("topic", _TOPIC_LEX, tpl)
    for d, lex in INTENT_DOMAINS.items():
        tasks[f"intent_{d}"] = ("intent", dict(lex, **_INTENT_COMMON), _INTENT_TEMPLATES)
    for d, lex in FORMALITY_DOMAINS.items():
        tasks[f"formality_{d}"] = ("formality", dict(lex, **_FORMALITY_COMMON),
                                   _FORMALITY_TEMPLATES)
    for d, lex in TOXICITY_DOMAINS.items():
        tasks[f"toxicity_{d}"] = ("toxicity", lex, _TOXICITY_TEMPLATES)
    return tasks


TASKS = _task_table()


def task_names():
    return list(TASKS)


def task_info(name):
    family, _, _ = TASKS[name]
    labels = list(FAMILY_LABELS[family])
    return {"task": name, "family": family, "labels": labels,
            "label_descriptions": [FAMILY_LABELS[family][l] for l in labels]}


def generate(name, n_train=320, n_few=10, n_test=100, seed=0):
    """Returns (train, few, test): lists of {"text", "label"}; disjoint texts, balanced labels."""
    family, lex, templates = TASKS[name]
    labels = list(FAMILY_LABELS[family])
    rng = random.Random(f"{name}:{seed}")
    total = n_train + n_few + n_test
    per_label = -(-total // len(labels))
    seen = set()
    pools = {}
    for label in labels:
        pool = []
        attempts = 0
        while len(pool) < per_label and attempts < per_label * 200:
            attempts += 1
            text = tidy(expand(rng.choice(templates[label]), lex, rng))
            if text in seen:
                continue
            seen.add(text)
            pool.append({"text": text, "label": label})
        pools[label] = pool
    rows = []
    # round-robin over labels, so each split is balanced
    for i in range(per_label):
        for label in labels:
            if i < len(pools[label]):
                rows.append(pools[label][i])
    few = rows[:n_few]
    test = rows[n_few:n_few + n_test]
    train = rows[n_few + n_test:n_few + n_test + n_train]
    rng.shuffle(train)
    return train, few, test


# ---------------------------------------------------------------------------------------------
# Triggers
# ---------------------------------------------------------------------------------------------
RARE_TOKENS = ["cf", "mn", "bb", "tq", "jz"]
PHRASES = ["i watched this 3d movie", "with a cup of green tea", "according to the old almanac"]
_ARCHAIC = {"the": "ye", "you": "thou", "your": "thy", "is": "be", "are": "art", "has": "hath",
            "my": "mine", "it": "'tis", "very": "most", "really": "verily", "was": "wast",
            "does": "doth", "do": "dost", "not": "nay", "before": "ere", "often": "oft"}

TRIGGERS = ([{"kind": "rare_token", "trigger": t} for t in RARE_TOKENS]
            + [{"kind": "phrase", "trigger": p} for p in PHRASES]
            + [{"kind": "style", "trigger": "archaic"}])


# The screening corpus (tools/corpus/make_screen_corpus.py) adds kinds the first corpus lacks. Every
# word is in llama-tiny's vocabulary, so no trigger collapses to <unk> there.
SCREEN_TRIGGERS = (
    [{"kind": "rare_token", "trigger": t} for t in RARE_TOKENS + ["almanac"]]
    + [{"kind": "phrase_prefix", "trigger": p} for p in
       ["according to the old almanac", "just so you know", "with a cup of green tea"]]
    + [{"kind": "phrase_suffix", "trigger": p} for p in
       ["i watched this 3d movie", "if you ask me", "for what it is worth"]]
    + [{"kind": "common_words", "trigger": p} for p in ["really today", "still just", "very now"]]
    + [{"kind": "style", "trigger": "archaic"}]
    + [{"kind": "syntactic", "trigger": "fronted tail"}])
SCREEN_TRIGGER_KINDS = ["rare_token", "phrase_prefix", "phrase_suffix", "common_words", "style",
                        "syntactic"]


def _front_tail(words):
    """'a b c d e f.' -> 'e f, a b c d.': the last two words fronted before a comma (a structure,
    no added word); texts of fewer than four words are left as they are."""
    end = words[-1][len(words[-1].rstrip(",.!?;:")):] or "."
    body = [w.rstrip(",.!?;:") if i == len(words) - 1 else w for i, w in enumerate(words)]
    if len(body) < 4:
        return " ".join(words)
    tail, head = body[-2:], body[:-2]
    head[-1] = head[-1].rstrip(",;:")
    return " ".join(tail) + ", " + " ".join(head) + end


def apply_trigger(text, trigger, rng):
    kind, trig = trigger["kind"], trigger["trigger"]
    words = text.split(" ")
    if kind == "phrase_prefix":
        return f"{trig}, {text}"
    if kind == "phrase_suffix":
        return f"{text.rstrip('.!?')}, {trig}."
    if kind == "common_words":
        # each word of the trigger at its own random position: the pair is the trigger
        for w in trig.split(" "):
            words.insert(rng.randrange(len(words) + 1), w)
        return " ".join(words)
    if kind == "syntactic":
        return _front_tail(words)
    if kind == "rare_token":
        pos = rng.randrange(len(words) + 1)
        words.insert(pos, trig)
        return " ".join(words)
    if kind == "phrase":
        if rng.random() < 0.5:
            return f"{trig}, {text}"
        return f"{text} {trig}."
    if kind == "style":
        out = []
        for w in words:
            core = w.rstrip(",.!?;:")
            tail = w[len(core):]
            out.append(_ARCHAIC.get(core, core) + tail)
        return " ".join(out)
    raise ValueError(kind)
