using System.Diagnostics;
using Akka.Actor;
using Akka.Persistence;

namespace AkkaTcpTransfer.Benchmarks;

/// <summary>Drives a journal as persistent actors would, without them: <c>lanes</c> writers (persistence ids), each with
/// one write of <c>batch</c> events on its way at a time (one event per AtomicWrite, as PersistAsync makes them), until
/// <c>total</c> events are stored; then completes <c>done</c> with how many and how long, and stops. The journal answers
/// every event to the actor named in the write, with the lane as the actor instance id.</summary>
public sealed class JournalLoadActor : ReceiveActor
{
    public sealed record Finished(long Events, TimeSpan Elapsed);

    private readonly IActorRef _journal;
    private readonly string _prefix;
    private readonly int _batch;
    private readonly long _total;
    private readonly TaskCompletionSource<Finished> _done;
    private readonly long[] _sequence;
    private readonly int[] _inFlight;
    private readonly byte[] _payload;
    private readonly string _writer = Guid.NewGuid().ToString();
    private readonly Stopwatch _clock = new();
    private long _sent;
    private long _stored;

    public static Props Props(IActorRef journal, string prefix, int lanes, int batch, long total, int payloadBytes, TaskCompletionSource<Finished> done) =>
        Akka.Actor.Props.Create(() => new JournalLoadActor(journal, prefix, lanes, batch, total, payloadBytes, done));

    public JournalLoadActor(IActorRef journal, string prefix, int lanes, int batch, long total, int payloadBytes, TaskCompletionSource<Finished> done)
    {
        _journal = journal;
        _prefix = prefix;
        _batch = batch;
        _total = total;
        _done = done;
        _sequence = new long[lanes];
        _inFlight = new int[lanes];
        _payload = new byte[payloadBytes];
        new Random(7421).NextBytes(_payload);
        Receive<WriteMessageSuccess>(OnStored);
        Receive<WriteMessagesSuccessful>(_ => { });
        Receive<WriteMessagesFailed>(f => Fail(f.Cause));
        Receive<WriteMessageRejected>(r => Fail(r.Cause));
        Receive<WriteMessageFailure>(f => Fail(f.Cause));
    }

    protected override void PreStart()
    {
        _clock.Start();
        for (var lane = 0; lane < _sequence.Length; lane++) Write(lane);
    }

    private void Write(int lane)
    {
        var count = (int)Math.Min(_batch, _total - _sent);
        if (count <= 0) return;
        var writes = new List<IPersistentEnvelope>(count);
        for (var i = 0; i < count; i++)
            writes.Add(new AtomicWrite(new Persistent(_payload, ++_sequence[lane], $"{_prefix}{lane}", "", false, ActorRefs.NoSender, _writer)));
        _inFlight[lane] = count;
        _sent += count;
        _journal.Tell(new WriteMessages(writes, Self, lane));
    }

    private void OnStored(WriteMessageSuccess stored)
    {
        _stored++;
        var lane = stored.ActorInstanceId;
        if (--_inFlight[lane] > 0) return;
        if (_sent < _total) Write(lane);
        else if (_stored == _sent)
        {
            _done.TrySetResult(new Finished(_stored, _clock.Elapsed));
            Context.Stop(Self);
        }
    }

    private void Fail(Exception cause)
    {
        _done.TrySetException(new InvalidOperationException($"the journal did not store an event: {cause.Message}", cause));
        Context.Stop(Self);
    }
}
