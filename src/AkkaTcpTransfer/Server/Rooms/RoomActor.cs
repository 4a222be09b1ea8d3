using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using Akka.Persistence;
using AkkaTcpTransfer.Chat;
using AkkaTcpTransfer.Limits;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Server.Entities;
using AkkaTcpTransfer.Server.Sessions;
using AkkaTcpTransfer.Server.Stored;
using AkkaTcpTransfer.Settings;
using AkkaTcpTransfer.Tcp;
using ChatFrame = AkkaTcpTransfer.Protocol.Chat;
using HistoryFrame = AkkaTcpTransfer.Protocol.History;
using AkkaTcpTransfer.Server.Lines;

namespace AkkaTcpTransfer.Server.Rooms;

/// <summary>One room, as a persistent entity ("room:KEY"): its members (identities, across connections), its topic and
/// every line said in it, journaled before anyone hears it. A line is answered to its sender once stored (its
/// "sent"), then written to every member online. The room keeps its newest lines in memory and in its snapshot, so a
/// member who joins or reconnects gets them at once, then live lines, in that order. Older lines are read from the
/// journal on request (<see cref="RoomMessages.History"/>). Retention deletes what is past history.room-max-lines or
/// room-max-age, up to the newest snapshot. A room with nobody online leaves memory after rooms.idle-unload; a room
/// whose last member left deletes its history and leaves the list of rooms.</summary>
/// <remarks>The server-wide room (every client is in it) is the entity "room:": it only stores lines and serves their
/// history; the session registry delivers them. Writes use PersistAsync (commands are not held back while one is
/// stored; Akka batches what arrives meanwhile into one write): every stored event has an entry in a queue of what to
/// do once it is stored, or if the database refuses it (the room lives on: its sender hears why), or fails (the room
/// stops: every pending sender hears that its line may or may not have been stored).</remarks>
internal sealed class RoomActor : ReceivePersistentActor
{
    /// <summary>What to do when a stored event comes back (in order), or is refused, or its write failed.</summary>
    private sealed record Pending(Action Stored, Action<string> Refused);

    private sealed record Online(string Name, IActorRef Peer, IActorRef Connection);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly string _id;
    private readonly bool _lobby;
    private readonly NodeSettings _settings;
    private readonly IActorRef _directory;
    private readonly IPassivation _passivation;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly Queue<Pending> _pending = new();
    private readonly Dictionary<string, string> _members = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Online> _online = new(StringComparer.Ordinal);
    private readonly Dictionary<IActorRef, string> _onlineByPeer = [];
    private readonly Dictionary<string, TokenBucket> _fanout = new(StringComparer.Ordinal);
    private readonly LinkedList<RecentLine> _recent = new();
    private readonly List<Checkpoint> _checkpoints = [];
    private readonly RecentLines _asked = new(RecentCapacity);
    private string _name = "";
    private long _openedMs;
    private bool _open;
    private string _topic = "";
    private string _topicBy = "";
    private long _topicAtMs;
    private long _deletedTo;
    private int _sinceSnapshot;
    private bool _closing;

    /// <summary>How many lines' answers a room remembers for askers that ask again.</summary>
    private const int RecentCapacity = 4096;

    public override string PersistenceId => _id;

    /// <param name="id">"room:KEY", or "room:" for the server-wide room.</param>
    public static Props Props(string id, NodeSettings settings, IActorRef directory, IPassivation passivation) =>
        Akka.Actor.Props.Create(() => new RoomActor(id, settings, directory, passivation));

    public RoomActor(string id, NodeSettings settings, IActorRef directory, IPassivation passivation)
    {
        _id = id;
        _lobby = id == RoomNames.EntityId("");
        _settings = settings;
        _directory = directory;
        _passivation = passivation;

        Recover<SnapshotOffer>(o => Restore((RoomSnapshot)o.Snapshot));
        Recover<RoomOpened>(Apply);
        Recover<LineSaid>(e => Apply(e, LastSequenceNr));
        Recover<MemberAdded>(Apply);
        Recover<MemberRemoved>(Apply);
        Recover<TopicSet>(Apply);

        Command<RoomMessages.Join>(OnJoin);
        Command<RoomMessages.Leave>(OnLeave);
        Command<RoomMessages.Say>(OnSay);
        Command<RoomMessages.SetTopic>(OnSetTopic);
        Command<RoomMessages.Members>(OnMembers);
        Command<RoomMessages.Roster>(r => Sender.Tell(_lobby || !_open
            ? new RoomMessages.RosterIs(r.Token, r.Room, false, [], 0)
            : new RoomMessages.RosterIs(r.Token, _name, _members.ContainsKey(r.Identity), [.. _members.Select(m => (m.Value, m.Key))], _openedMs)));
        Command<RoomMessages.History>(OnHistory);
        Command<RoomMessages.StoreLine>(OnStoreLine);
        Command<RoomMessages.Scrollback>(s =>
        {
            SendScrollback(s.Connection, "", s.BeforeMs);
            Sender.Tell(new RoomMessages.ScrollbackSent(s.Connection, s.BeforeMs, LastSequenceNr));
        });
        Command<RoomMessages.Retain>(_ => Snapshot());
        Command<Terminated>(t => Detach(t.ActorRef));
        Command<ReceiveTimeout>(_ =>
        {
            if (_online.Count == 0 && _pending.Count == 0) _passivation.Passivate(Context);
        });
        Command<EntityMessages.Stop>(_ =>
        {
            if (_sinceSnapshot > 0 && !_closing) Snapshot();
            Context.Stop(Self);
        });
        Command<SaveSnapshotSuccess>(OnSnapshotSaved);
        Command<SaveSnapshotFailure>(f => _log.Warning("{0}: could not save a snapshot: {1}", _id, f.Cause.Message));
        Command<DeleteMessagesSuccess>(d => _deletedTo = Math.Max(_deletedTo, d.ToSequenceNr));
        Command<DeleteMessagesFailure>(f => _log.Warning("{0}: could not delete old lines: {1}", _id, f.Cause.Message));
        Command<DeleteSnapshotsSuccess>(_ => { });
        Command<DeleteSnapshotsFailure>(f => _log.Warning("{0}: could not delete old snapshots: {1}", _id, f.Cause.Message));
    }

    protected override void PreStart()
    {
        base.PreStart();
        Context.SetReceiveTimeout(_settings.Rooms.IdleUnload);
    }

    private static long NowMs => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    private bool IsMember(string identity) => _lobby || _members.ContainsKey(identity);

    // ---------------------------------------------------------------- storing

    /// <summary>Stores <paramref name="e"/>, applies it once stored, then runs <paramref name="stored"/>; if the database
    /// refuses it, <paramref name="refused"/> hears why (nothing changed).</summary>
    private void Store<T>(T e, Action<T> apply, Action stored, Action<string> refused) where T : IStored
    {
        _pending.Enqueue(new Pending(stored, refused));
        PersistAsync(e, stored1 =>
        {
            apply(stored1);
            _pending.Dequeue().Stored();
            if (++_sinceSnapshot >= _settings.History.SnapshotEvery) Snapshot();
        });
    }

    protected override void OnPersistRejected(Exception cause, object @event, long sequenceNr)
    {
        _log.Warning("{0}: the database did not take a {1}: {2}", _id, @event.GetType().Name, cause.Message);
        if (_pending.TryDequeue(out var pending)) pending.Refused($"the server could not store it: {cause.Message}");
    }

    protected override void OnPersistFailure(Exception cause, object @event, long sequenceNr)
    {
        _log.Error("{0}: a write to the database failed, the room restarts on its next use: {1}", _id, cause.Message);
        while (_pending.TryDequeue(out var pending)) pending.Refused($"the database did not answer; it may or may not have been stored ({cause.Message})");
        base.OnPersistFailure(cause, @event, sequenceNr);
    }

    // ---------------------------------------------------------------- membership

    private void OnJoin(RoomMessages.Join join)
    {
        if (_lobby) return;
        if (!_open && !join.Rejoin)
        {
            var opened = new RoomOpened(join.Room, NowMs);
            Store(opened, Apply, () => { }, _ => { });
        }
        if (_members.ContainsKey(join.Identity))
        {
            Attach(join.Identity, join.Name, join.Peer, join.Connection);
            join.Connection.Tell(new ConnectionMessages.Post(new RoomJoined(_name, _topic, _members.Count, join.Rejoin)));
            SendScrollback(join.Connection, _name);
            join.Account.Tell(new RoomMessages.Entered(_name));
            if (!join.Rejoin) join.Peer.Tell(new RoomMessages.Settled(join.Room));
            return;
        }
        if (join.Rejoin)
        {
            // The account remembers a membership the room does not: the room was closed and made anew since.
            join.Connection.Tell(new ConnectionMessages.Post(new RoomLeft(join.Room, WireCode.NotMember, $"{join.Room} was closed while you were away")));
            join.Account.Tell(new RoomMessages.Exited(join.Room));
            return;
        }
        if (_members.Count >= _settings.Rooms.MembersPerRoom)
        {
            join.Connection.Tell(new ConnectionMessages.Post(new RoomRefused(join.Room, WireCode.LimitReached,
                $"{join.Room} is full ({_settings.Rooms.MembersPerRoom} members)")));
            join.Account.Tell(new RoomMessages.NotEntered(join.Room));
            join.Peer.Tell(new RoomMessages.Settled(join.Room));
            return;
        }
        Store(new MemberAdded(join.Identity, join.Name, NowMs), Apply, () =>
        {
            Attach(join.Identity, join.Name, join.Peer, join.Connection);
            join.Connection.Tell(new ConnectionMessages.Post(new RoomJoined(_name, _topic, _members.Count, false)));
            SendScrollback(join.Connection, _name);
            Tell(new MemberJoined(_name, join.Name), except: join.Identity);
            join.Account.Tell(new RoomMessages.Entered(_name));
            join.Peer.Tell(new RoomMessages.Settled(join.Room));
            Summarise();
        }, why =>
        {
            join.Connection.Tell(new ConnectionMessages.Post(new RoomRefused(join.Room, WireCode.NotStored, $"could not join {join.Room}: {why}")));
            join.Account.Tell(new RoomMessages.NotEntered(join.Room));
            join.Peer.Tell(new RoomMessages.Settled(join.Room));
        });
    }

    private void OnLeave(RoomMessages.Leave leave)
    {
        if (_lobby) return;
        if (!_members.ContainsKey(leave.Identity))
        {
            leave.Connection.Tell(new ConnectionMessages.Post(new RoomLeft(leave.Room, WireCode.Normal, $"you are not in {leave.Room}")));
            leave.Account.Tell(new RoomMessages.Exited(leave.Room));
            leave.Peer.Tell(new RoomMessages.Settled(leave.Room));
            return;
        }
        Store(new MemberRemoved(leave.Identity, NowMs), Apply, () =>
        {
            if (_online.Remove(leave.Identity, out var online))
            {
                _onlineByPeer.Remove(online.Peer);
                Context.Unwatch(online.Peer);
            }
            leave.Connection.Tell(new ConnectionMessages.Post(new RoomLeft(_name, WireCode.Normal, $"you left {_name}")));
            Tell(new MemberLeft(_name, leave.Name), except: leave.Identity);
            leave.Account.Tell(new RoomMessages.Exited(_name));
            leave.Peer.Tell(new RoomMessages.Settled(leave.Room));
            Summarise();
            if (_members.Count == 0) Close();
        }, why =>
        {
            leave.Connection.Tell(new ConnectionMessages.Post(new RoomRefused(leave.Room, WireCode.NotStored, $"could not leave {leave.Room}: {why}")));
            leave.Peer.Tell(new RoomMessages.Settled(leave.Room));
        });
    }

    /// <summary>The last member left: the room's history goes (snapshots first, so that a crash half way leaves events
    /// that replay to an empty room), and so does its entry in the list.</summary>
    private void Close()
    {
        _closing = true;
        DeleteSnapshots(new SnapshotSelectionCriteria(long.MaxValue));
        DeleteMessages(LastSequenceNr);
        _recent.Clear();
        _checkpoints.Clear();
        _topic = _topicBy = "";
        _open = false;
        _log.Info("{0} is empty: closed and its history deleted", _name);
    }

    private void Attach(string identity, string name, IActorRef peer, IActorRef connection)
    {
        if (_online.TryGetValue(identity, out var previous) && !previous.Peer.Equals(peer))
        {
            _onlineByPeer.Remove(previous.Peer);
            Context.Unwatch(previous.Peer);
        }
        _online[identity] = new Online(name, peer, connection);
        _onlineByPeer[peer] = identity;
        Context.Watch(peer);
    }

    private void Detach(IActorRef peer)
    {
        if (_onlineByPeer.Remove(peer, out var identity)) _online.Remove(identity);
    }

    // ---------------------------------------------------------------- lines

    private void OnSay(RoomMessages.Say say)
    {
        var sender = Sender;
        if (!IsMember(say.Identity) || !_open)
        {
            sender.Tell(new LineAnswers.SayFailed(say.Id, WireCode.NotMember, $"not sent: you are not in {say.Room}; /join {say.Room} first"));
            return;
        }
        var key = RecentLines.Key(say.Origin, say.Id);
        if (Asked(key, out var done))
        {
            if (done is { } first) sender.Tell(new LineAnswers.SayDone(say.Id, first.AtMs));
            return;
        }
        // A line costs its sender one delivery per member online, from an allowance per second (limits.fanout-*).
        var recipients = _online.Count - (_online.ContainsKey(say.Identity) ? 1 : 0);
        if (recipients > 0)
        {
            var limits = _settings.Limits;
            var bucket = _fanout.TryGetValue(say.Identity, out var b) ? b
                : _fanout[say.Identity] = new TokenBucket(limits.FanoutPerSecond, limits.FanoutBurst, _clock.Elapsed);
            var cost = Math.Min(recipients, bucket.Burst);
            var wait = bucket.WaitFor(_clock.Elapsed, cost);
            if (wait > TimeSpan.Zero)
            {
                _asked.Failed(key);
                sender.Tell(new LineAnswers.SayDeferred(say.Id, wait));
                return;
            }
            bucket.TryTake(_clock.Elapsed, cost);
        }
        var atMs = NowMs;
        var line = new LineSaid(say.From, atMs, say.Text);
        Store(line, e => Apply(e, LastSequenceNr), () =>
        {
            _asked.Done(key, new RecentLines.Outcome(atMs, LastSequenceNr, false));
            sender.Tell(new LineAnswers.SayDone(say.Id, atMs));
            Tell(FrameEncoder.Encode(new ChatFrame(say.From, _name, atMs, say.Text)), except: say.Identity);
        }, why =>
        {
            _asked.Failed(key);
            sender.Tell(new LineAnswers.SayFailed(say.Id, WireCode.NotStored, $"not sent: {why}"));
        });
    }

    private void OnStoreLine(RoomMessages.StoreLine line)
    {
        var sender = Sender;
        if (Asked(line.Key, out var done))
        {
            if (done is { } first) sender.Tell(new RoomMessages.Stored(line.Id, first.AtMs, first.Seq, Repeat: true));
            return;
        }
        Store(new LineSaid(line.From, line.AtMs, line.Text), e => Apply(e, LastSequenceNr), () =>
        {
            _asked.Done(line.Key, new RecentLines.Outcome(line.AtMs, LastSequenceNr, false));
            sender.Tell(new RoomMessages.Stored(line.Id, line.AtMs, LastSequenceNr));
        }, why =>
        {
            _asked.Failed(line.Key);
            sender.Tell(new RoomMessages.NotStored(line.Id, WireCode.NotStored, $"not sent: {why}"));
        });
    }

    /// <summary>True when the line under <paramref name="key"/> was asked for before: <paramref name="done"/> is its
    /// first answer, or null while that is still being stored.</summary>
    private bool Asked(string key, out RecentLines.Outcome? done) => !_asked.TryBegin(key, out done);

    private void OnSetTopic(RoomMessages.SetTopic set)
    {
        if (_lobby || !IsMember(set.Identity))
        {
            set.Connection.Tell(new ConnectionMessages.Post(new RoomRefused(set.Room, WireCode.NotMember, $"only a member of {set.Room} sets its topic")));
            return;
        }
        Store(new TopicSet(set.By, NowMs, set.Topic), Apply, () =>
        {
            Tell(FrameEncoder.Encode(new RoomTopic(_name, _topicBy, _topicAtMs, _topic)), except: null);
            Summarise();
        }, why => set.Connection.Tell(new ConnectionMessages.Post(new RoomRefused(set.Room, WireCode.NotStored, $"topic not set: {why}"))));
    }

    private void OnMembers(RoomMessages.Members members)
    {
        if (_lobby || !_open)
        {
            members.Connection.Tell(new ConnectionMessages.Post(new RoomRefused(members.Room, WireCode.NotMember, $"there is no room {members.Room}")));
            return;
        }
        var list = new List<MemberInfo>();
        var used = 0;
        foreach (var (identity, name) in _members.OrderBy(m => m.Value, StringComparer.OrdinalIgnoreCase))
        {
            used += 3 + System.Text.Encoding.UTF8.GetByteCount(name);
            if (used > members.Budget) break;
            list.Add(new MemberInfo(name, _online.ContainsKey(identity)));
        }
        members.Connection.Tell(new ConnectionMessages.Post(new MemberList(_name, list)));
    }

    private void OnHistory(RoomMessages.History history)
    {
        if (!IsMember(history.Identity) || (!_lobby && !_open))
        {
            history.Connection.Tell(new ConnectionMessages.Post(new RoomRefused(history.Room, WireCode.NotMember,
                $"only a member of {history.Room} reads its history")));
            return;
        }
        var first = _deletedTo + 1;
        var to = history.Before > 0 ? Math.Min(history.Before - 1, LastSequenceNr) : LastSequenceNr;
        var from = Math.Max(first, to - history.Count + 1);
        Sender.Tell(new RoomMessages.HistoryRange(_lobby ? "" : _name, _id, from, to, from > first));
    }

    /// <summary>The newest lines (history.scrollback of them, none older than history.room-max-age), as history, then
    /// the end of it: what a member gets on joining or reconnecting, before live lines.</summary>
    private void SendScrollback(IActorRef connection, string target, long beforeMs = long.MaxValue)
    {
        var cutoff = NowMs - (long)_settings.History.RoomMaxAge.TotalMilliseconds;
        long oldest = 0;
        foreach (var line in _recent)
        {
            if (line.AtMs < cutoff || line.AtMs >= beforeMs) continue;
            oldest = oldest == 0 ? line.Seq : oldest;
            connection.Tell(new ConnectionMessages.Post(new HistoryFrame(line.From, target, line.AtMs, line.Seq, line.Text)));
        }
        // Older lines exist only if the recent ones are as many as are kept in memory (else these are all there is).
        var more = _recent.Count >= _settings.History.Scrollback && oldest > _deletedTo + 1;
        if (oldest == 0) oldest = LastSequenceNr + 1;
        connection.Tell(new ConnectionMessages.Post(new HistoryEnd(target, oldest, more)));
    }

    /// <summary>A frame, encoded once, to every member online but <paramref name="except"/>.</summary>
    private void Tell(byte[] encoded, string? except)
    {
        var send = new ConnectionMessages.PostEncoded(encoded);
        foreach (var (identity, online) in _online)
        {
            if (identity != except) online.Connection.Tell(send);
        }
    }

    private void Tell(Frame frame, string? except) => Tell(FrameEncoder.Encode(frame), except);

    private void Summarise() => _directory.Tell(new RoomMessages.Summary(_name, _members.Count, _topic, _members.Count > 0));

    // ---------------------------------------------------------------- state

    private void Apply(RoomOpened e)
    {
        _name = e.Name;
        _openedMs = e.AtMs;
        _open = true;
        _closing = false;
    }

    private void Apply(LineSaid e, long seq)
    {
        _recent.AddLast(new RecentLine(seq, e.From, e.AtMs, e.Text));
        while (_recent.Count > _settings.History.Scrollback) _recent.RemoveFirst();
    }

    private void Apply(MemberAdded e) => _members[e.Identity] = e.Name;

    private void Apply(MemberRemoved e)
    {
        _members.Remove(e.Identity);
        if (_members.Count == 0 && !_lobby) _open = false;
    }

    private void Apply(TopicSet e)
    {
        _topic = e.Topic;
        _topicBy = e.By;
        _topicAtMs = e.AtMs;
    }

    private void Restore(RoomSnapshot s)
    {
        _name = s.Name;
        _openedMs = s.OpenedMs;
        _open = s.Name.Length > 0 && (s.Members.Count > 0 || _lobby);
        _topic = s.Topic;
        _topicBy = s.TopicBy;
        _topicAtMs = s.TopicAtMs;
        foreach (var m in s.Members) _members[m.Identity] = m.Name;
        foreach (var l in s.Recent) _recent.AddLast(l);
        _checkpoints.AddRange(s.Checkpoints);
        _deletedTo = s.DeletedTo;
    }

    // ---------------------------------------------------------------- snapshots and retention

    private void Snapshot()
    {
        if (_closing) return;
        _sinceSnapshot = 0;
        _checkpoints.Add(new Checkpoint(LastSequenceNr, NowMs));
        _checkpoints.RemoveAll(c => c.Seq <= _deletedTo && c != _checkpoints[^1]);
        SaveSnapshot(new RoomSnapshot(_name, _openedMs, _topic, _topicBy, _topicAtMs,
            [.. _members.Select(m => new RoomMember(m.Key, m.Value))], [.. _recent], [.. _checkpoints], _deletedTo));
    }

    /// <summary>A snapshot holds everything up to its sequence number: older snapshots go, and so do the events past
    /// the room's limits (never beyond the snapshot: recovery starts from it).</summary>
    private void OnSnapshotSaved(SaveSnapshotSuccess saved)
    {
        var upTo = saved.Metadata.SequenceNr;
        DeleteSnapshots(new SnapshotSelectionCriteria(upTo - 1));
        var byCount = LastSequenceNr - _settings.History.RoomMaxLines;
        var cutoff = NowMs - (long)_settings.History.RoomMaxAge.TotalMilliseconds;
        var byAge = _checkpoints.Where(c => c.AtMs < cutoff).Select(c => c.Seq).DefaultIfEmpty(0).Max();
        var cut = Math.Min(Math.Max(byCount, byAge), upTo);
        if (cut > _deletedTo) DeleteMessages(cut);
    }
}
