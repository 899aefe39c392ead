# The cost of the ?mailbox= scope on a page and on the counts, IN (SELECT ...) against a correlated EXISTS, on a
# synthetic store shaped like schema v5 (100,000 messages, half in "dev", 1% in "rare"). Run: python3 bench/MailboxScope/scope_query.py
import sqlite3, time, random
db = sqlite3.connect(":memory:")
db.executescript("""
CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, subject TEXT, is_read INTEGER NOT NULL DEFAULT 0, pad TEXT);
CREATE INDEX messages_by_read ON messages(is_read);
CREATE TABLE message_mailboxes (message_id INTEGER NOT NULL, name TEXT NOT NULL, PRIMARY KEY (message_id, name)) WITHOUT ROWID;
CREATE INDEX message_mailboxes_by_name ON message_mailboxes(name, message_id);
""")
N = 100_000
random.seed(1)
db.executemany("INSERT INTO messages (id, subject, pad) VALUES (?, ?, ?)", ((i, f"s{i}", "x"*300) for i in range(1, N+1)))
rows = []
for i in range(1, N+1):
    r = random.random()
    if r < 0.5: rows.append((i, "dev"))
    if r < 0.01: rows.append((i, "rare"))
db.executemany("INSERT INTO message_mailboxes VALUES (?, ?)", rows)
db.commit()
def t(sql, *a, reps=20):
    s = time.perf_counter()
    for _ in range(reps): db.execute(sql, a).fetchall()
    return (time.perf_counter() - s) / reps * 1000
scope = "id IN (SELECT message_id FROM message_mailboxes WHERE name = ?)"
print("sqlite", sqlite3.sqlite_version, "messages", N)
print("page all      %.2f ms" % t("SELECT id, subject FROM messages ORDER BY id DESC LIMIT 50"))
for name in ("dev", "rare"):
    print(f"page {name:5}    %.2f ms" % t(f"SELECT id, subject FROM messages WHERE {scope} ORDER BY id DESC LIMIT 50", name))
    print(f"count {name:5}   %.2f ms" % t(f"SELECT count(*), coalesce(sum(is_read = 0), 0) FROM messages WHERE {scope}", name))
print("counts by mailbox %.2f ms" % t("SELECT mm.name, count(*), coalesce(sum(m.is_read = 0), 0) FROM message_mailboxes mm JOIN messages m ON m.id = mm.message_id GROUP BY mm.name", reps=5))
ex = "EXISTS (SELECT 1 FROM message_mailboxes mm WHERE mm.message_id = messages.id AND mm.name = ?)"
for name in ("dev", "rare"):
    print(f"EXISTS page {name:5}  %.2f ms" % t(f"SELECT id, subject FROM messages WHERE {ex} ORDER BY id DESC LIMIT 50", name))
    print(f"EXISTS count {name:5} %.2f ms" % t(f"SELECT count(*), coalesce(sum(is_read = 0), 0) FROM messages WHERE {ex}", name, reps=5))
