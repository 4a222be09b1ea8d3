using System.Security.Cryptography;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Settings;
using AkkaTcpTransfer.Tcp;
using AkkaTcpTransfer.Tests.Support;
using AkkaTcpTransfer.Transfer.Flow;
using AkkaTcpTransfer.Transfer.Storage;
using AkkaTcpTransfer.Transfer;
using Xunit.Abstractions;

namespace AkkaTcpTransfer.Tests.Actors;

/// <summary>Transfer actors against probes: a probe plays the connection, so every frame and its timing is visible.</summary>
public sealed class TransferActorTests(ITestOutputHelper output)
    : TestKit(NodeConfig.Build(NodeRole.Client, ("name", "tester"), ("akka.loglevel", "WARNING")), output: output), IDisposable
{
    private readonly Files _files = new();

    void IDisposable.Dispose()
    {
        _files.Dispose();
        Shutdown();
    }

    private static NodeSettings Settings(params (string, string)[] overrides) =>
        NodeSettings.Read(NodeConfig.Build(NodeRole.Client, [("name", "tester"), ("transfer.auto-accept", "on"), .. overrides]), NodeRole.Client);

    private static Frame Sent(TestProbe connection) => connection.ExpectMsg<ConnectionMessages.Send>().Frame;

    [Theory]
    [InlineData("too many offers at once; slow down", true)]
    [InlineData("too many incoming transfers at once (at most 16); try again later", false)]
    [InlineData("too many transfers of yours going through the server at once (8, at most 8); try again when one is done", false)]
    public void A_reject_of_only_the_offers_timing_queues_the_file_again_and_only_a_rate_refusal_slows_offers(string reason, bool slowDown)
    {
        var path = _files.Create("busy.bin", 100, seed: 4);
        var connection = CreateTestProbe();
        var transfers = CreateTestProbe();
        var spec = new TransferMessages.StartSend(11, path, "busy.bin", "bob", 100, new FileInfo(path).LastWriteTimeUtc.Ticks);
        var sender = ChildActorOf(SenderActor.Props(spec, connection.Ref, transfers.Ref, Settings(), "tester", [], new WindowPool(4096, 4096).NewShare()));
        Assert.IsType<Offer>(Sent(connection));
        sender.Tell(new Reject(11, reason));
        transfers.FishForMessage(m => m is TransferMessages.Throttled t && t.Id == 11 && t.SlowDown == slowDown, Patience);
        // Nothing about the file failed: no Fail to the peer.
        connection.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
    }

    /// <summary>How long a wait for a transfer actor's report may take: the first tests of a run share a busy machine
    /// (the TestKit's default of 3 s was too short once in CI).</summary>
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);

    [Fact]
    public void A_reject_for_any_other_reason_fails_the_transfer()
    {
        var path = _files.Create("refused.bin", 100, seed: 5);
        var connection = CreateTestProbe();
        var transfers = CreateTestProbe();
        var spec = new TransferMessages.StartSend(12, path, "refused.bin", "bob", 100, new FileInfo(path).LastWriteTimeUtc.Ticks);
        var sender = ChildActorOf(SenderActor.Props(spec, connection.Ref, transfers.Ref, Settings(), "tester", [], new WindowPool(4096, 4096).NewShare()));
        Assert.IsType<Offer>(Sent(connection));
        sender.Tell(new Reject(12, "not enough free space"));
        transfers.FishForMessage(m => m is TransferMessages.Ended { Id: 12, Delivered: false }, Patience);
    }

    [Fact]
    public void The_sender_never_has_more_than_the_window_unacknowledged()
    {
        const int chunk = 1000, window = 4000, size = 20_500;
        var path = _files.Create("window.bin", size, seed: 3);
        var info = new FileInfo(path);
        var connection = CreateTestProbe();
        var transfers = CreateTestProbe();
        var spec = new TransferMessages.StartSend(9, path, "window.bin", "bob", size, info.LastWriteTimeUtc.Ticks);
        var sender = ChildActorOf(SenderActor.Props(spec, connection.Ref, transfers.Ref, Settings(("transfer.chunk-size", "1k"), ("transfer.window", "4k")), "tester", [], new WindowPool(4096, 4096).NewShare()));

        Assert.IsType<Offer>(Sent(connection));
        sender.Tell(new Accept(9, 0, [], chunk, window));
        // Its Acks come straight from the connection, routed before the Start that they follow.
        Assert.Equal(sender, connection.ExpectMsg<ConnectionMessages.RouteAcks>(r => r.Id == 9).To);
        Assert.Equal(0, Assert.IsType<Start>(Sent(connection)).Offset);

        long acked = 0, sent = 0;
        var data = new List<byte>();
        Done? done = null;
        while (acked < size)
        {
            // Take every chunk the sender is willing to send now...
            while (connection.HasMessages || sent - acked < window && sent < size)
            {
                var frame = connection.ReceiveOne(TimeSpan.FromSeconds(5)) as ConnectionMessages.Send;
                if (frame?.Frame is Done d) done = d;
                if (frame?.Frame is not Chunk c) break;
                Assert.Equal(sent, c.Offset);
                sent += c.Data.Length;
                data.AddRange(c.Data.ToArray());
                Assert.True(sent - acked <= window, $"sent {sent} with only {acked} acknowledged: over the {window}-byte window");
            }
            // ...then nothing more until an ack makes room.
            if (sent < size) connection.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
            acked = Math.Min(sent, acked + chunk);
            sender.Tell(new Ack(9, acked));
        }
        done ??= connection.FishForMessage<ConnectionMessages.Send>(m => m.Frame is Done).Frame as Done;
        Assert.Equal(SHA256.HashData(File.ReadAllBytes(path)), done!.Sha256);
        Assert.Equal(File.ReadAllBytes(path), data.ToArray());
    }

    [Fact]
    public void A_receiver_that_acknowledges_chunks_still_queued_can_only_get_bytes_of_the_same_file_in_them()
    {
        const int chunk = 1000, window = 4000, size = 20_500;
        var path = _files.Create("early.bin", size, seed: 5);
        var file = File.ReadAllBytes(path);
        var connection = CreateTestProbe();
        var spec = new TransferMessages.StartSend(9, path, "early.bin", "bob", size, new FileInfo(path).LastWriteTimeUtc.Ticks);
        var sender = ChildActorOf(SenderActor.Props(spec, connection.Ref, CreateTestProbe().Ref, Settings(("transfer.chunk-size", "1k"), ("transfer.window", "4k")), "tester", [], new WindowPool(4096, 4096).NewShare()));
        Assert.IsType<Offer>(Sent(connection));
        sender.Tell(new Accept(9, 0, [], chunk, window));
        connection.ExpectMsg<ConnectionMessages.RouteAcks>();
        Assert.IsType<Start>(Sent(connection));

        // Every chunk the sender hands to its connection, as the connection would hold it until written.
        var chunks = new List<Chunk>();
        var sent = 0L;
        while (sent < size)
        {
            // A window's worth is queued, not yet written...
            var target = Math.Min(size, sent + window);
            while (sent < target)
            {
                var c = Assert.IsType<Chunk>(Sent(connection));
                chunks.Add(c);
                sent += c.Data.Length;
            }
            // ...and the receiver acknowledges all of it at once, before a byte of it left.
            sender.Tell(new Ack(9, sent));
        }
        // The buffers read into again were this transfer's own, a window of them: whatever a queued chunk holds by now is
        // bytes of the same file, never bytes from elsewhere in the process.
        Assert.True(chunks.Select(c => System.Runtime.InteropServices.MemoryMarshal.TryGetArray(c.Data, out var a) ? a.Array : null).Distinct().Count() <= window / chunk);
        foreach (var c in chunks)
        {
            // Byte i of a buffer only ever holds byte i of some chunk (the last, shorter one overwrites a prefix).
            var bytes = c.Data.ToArray();
            for (var i = 0; i < bytes.Length; i++)
            {
                var found = false;
                for (var k = 0; k * chunk + i < size && !found; k++) found = file[k * chunk + i] == bytes[i];
                Assert.True(found, $"byte {i} of the chunk at {c.Offset} is from no chunk of the file");
            }
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_sender_tells_the_node_it_ended_before_it_publishes_how(bool delivered)
    {
        // One probe is both the node's transfers actor and a subscriber: it sees the two in the order they were sent.
        // Whoever reads the event and then asks the node (UnfinishedOutgoingAsync) must find the transfer over.
        var path = _files.Create("ends.bin", 1000, seed: 4);
        var connection = CreateTestProbe();
        var node = CreateTestProbe();
        Sys.EventStream.Subscribe(node.Ref, typeof(Events.TransferCompleted));
        Sys.EventStream.Subscribe(node.Ref, typeof(Events.TransferFailed));
        var spec = new TransferMessages.StartSend(8, path, "ends.bin", "bob", 1000, new FileInfo(path).LastWriteTimeUtc.Ticks);
        var sender = ChildActorOf(SenderActor.Props(spec, connection.Ref, node.Ref, Settings(), "tester", [], new WindowPool(1 << 19, 1 << 19).NewShare()));
        Assert.IsType<Offer>(Sent(connection));
        sender.Tell(new Accept(8, 0, [], 65536, 1 << 19));
        var done = connection.FishForMessage<ConnectionMessages.Send>(m => m.Frame is Done).Frame as Done;
        sender.Tell(delivered ? new Verified(8, done!.Sha256) : new Fail(8, "the receiver's disk is full"));

        var first = node.FishForMessage(m => m is TransferMessages.Ended or Events.TransferCompleted or Events.TransferFailed);
        Assert.Equal(delivered, Assert.IsType<TransferMessages.Ended>(first).Delivered);
        if (delivered) node.FishForMessage(m => m is Events.TransferCompleted);
        else node.FishForMessage(m => m is Events.TransferFailed);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_receiver_tells_the_node_it_ended_before_it_publishes_how(bool delivered)
    {
        // As for the sender: after the event, /transfers no longer lists it and its slot is free for the next offer.
        var downloads = _files.Dir("dl-ends");
        var settings = Settings(("downloads", downloads));
        var connection = CreateTestProbe();
        var node = CreateTestProbe();
        Sys.EventStream.Subscribe(node.Ref, typeof(Events.TransferCompleted));
        Sys.EventStream.Subscribe(node.Ref, typeof(Events.TransferFailed));
        var partials = Sys.ActorOf(PartialFilesActor.Props(downloads, settings.Transfer));
        var receiver = ChildActorOf(ReceiverActor.Props(new Offer(6, "bob", [], "tester", "e.bin", 1000, 1), connection.Ref, node.Ref, partials, settings, "tester", 1000, "", new InboundWindow(new WindowPool(settings.Transfer.Window, settings.Transfer.MaxWindow).NewShare())));
        Assert.IsType<Accept>(Sent(connection));
        var data = new byte[1000];
        receiver.Tell(new Start(6, 0, 4000));
        receiver.Tell(new Chunk(6, 0, data));
        receiver.Tell(delivered ? new Done(6, 1000, SHA256.HashData(data)) : new Fail(6, "the sender's disk failed"));

        var first = node.FishForMessage(m => m is TransferMessages.Ended or Events.TransferCompleted or Events.TransferFailed);
        Assert.Equal(delivered, Assert.IsType<TransferMessages.Ended>(first).Delivered);
        if (delivered) node.FishForMessage(m => m is Events.TransferCompleted);
        else node.FishForMessage(m => m is Events.TransferFailed);
    }

    [Fact]
    public void A_sender_tells_the_node_its_progress_as_well_as_publishing_it()
    {
        // The node's table hears of progress from the transfer itself, before the event is published; it does not
        // listen to the event stream. One probe, both the table and a subscriber, gets each report twice.
        var path = _files.Create("moves.bin", 5000, seed: 6);
        var connection = CreateTestProbe();
        var node = CreateTestProbe();
        Sys.EventStream.Subscribe(node.Ref, typeof(Events.TransferProgress));
        var spec = new TransferMessages.StartSend(10, path, "moves.bin", "bob", 5000, new FileInfo(path).LastWriteTimeUtc.Ticks);
        var sender = ChildActorOf(SenderActor.Props(spec, connection.Ref, node.Ref, Settings(), "tester", [], new WindowPool(1 << 19, 1 << 19).NewShare()));
        Assert.IsType<Offer>(Sent(connection));
        sender.Tell(new Accept(10, 0, [], 1000, 1 << 19));
        connection.FishForMessage<ConnectionMessages.Send>(m => m.Frame is Done);
        sender.Tell(new Ack(10, 1000));

        var told = node.FishForMessage<Events.TransferProgress>(_ => true);
        Assert.Equal(1000, told.Bytes);
        Assert.Equal(told, node.ExpectMsg<Events.TransferProgress>());
    }

    [Fact]
    public void A_receiver_tells_the_node_its_progress_as_well_as_publishing_it()
    {
        var downloads = _files.Dir("dl-moves");
        var settings = Settings(("downloads", downloads));
        var connection = CreateTestProbe();
        var node = CreateTestProbe();
        Sys.EventStream.Subscribe(node.Ref, typeof(Events.TransferProgress));
        var partials = Sys.ActorOf(PartialFilesActor.Props(downloads, settings.Transfer));
        var receiver = ChildActorOf(ReceiverActor.Props(new Offer(4, "bob", [], "tester", "m.bin", 3000, 1), connection.Ref, node.Ref, partials, settings, "tester", 1000, "", new InboundWindow(new WindowPool(settings.Transfer.Window, settings.Transfer.MaxWindow).NewShare())));
        Assert.IsType<Accept>(Sent(connection));
        receiver.Tell(new Start(4, 0, 4000));
        receiver.Tell(new Chunk(4, 0, new byte[1000]));

        var told = node.FishForMessage<Events.TransferProgress>(_ => true);
        Assert.Equal(1000, told.Bytes);
        Assert.Equal(told, node.ExpectMsg<Events.TransferProgress>());
    }

    [Fact]
    public void A_parked_hash_state_resumes_without_reading_the_partial_file()
    {
        var path = _files.Create("p1.part", 4096, seed: 1);
        var bytes = File.ReadAllBytes(path);
        // A hash state whose content deliberately differs from the file: had the partial file been read, its hash
        // would come back; the parked one coming back proves it was not read.
        var parked = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        parked.AppendData(new byte[4096]);
        using var partial = new PartialFile(path);
        Assert.True(partial.Open(10_000, new ParkedPartial(4096, parked, File.GetLastWriteTimeUtc(path))));
        Assert.Equal(4096, partial.Length);
        Assert.Equal(SHA256.HashData(new byte[4096]), partial.CurrentHash);
        Assert.NotEqual(SHA256.HashData(bytes), partial.CurrentHash);
    }

    [Fact]
    public void A_partial_file_touched_since_it_was_parked_is_re_read()
    {
        var path = _files.Create("p2.part", 300_000, seed: 2);
        var expected = SHA256.HashData(File.ReadAllBytes(path));
        var parked = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        parked.AppendData(new byte[300_000]);
        using var partial = new PartialFile(path);
        Assert.False(partial.Open(1_000_000, new ParkedPartial(300_000, parked, File.GetLastWriteTimeUtc(path).AddSeconds(-5))));
        var slices = 0;
        while (!partial.Rehash(100_000)) slices++;
        Assert.Equal(2, slices); // re-read in slices of 100,000 bytes: 3 calls
        Assert.Equal(300_000, partial.Length);
        Assert.Equal(expected, partial.CurrentHash);
    }

    [Fact]
    public void Placing_never_overwrites_and_numbers_clashes()
    {
        var downloads = _files.Dir("place");
        File.WriteAllText(Path.Combine(downloads, "a.txt"), "mine");
        File.WriteAllText(Path.Combine(downloads, "a (1).txt"), "mine too");
        var path = Path.Combine(downloads, ".akka-tcp-transfer", "x.part");
        using var partial = new PartialFile(path);
        Assert.True(partial.Open(3, null));
        partial.Write(0, "new"u8);
        partial.Complete(sync: true);
        Assert.Equal(Path.Combine(downloads, "a (2).txt"), partial.Place(downloads, ["a.txt"]));
        Assert.Equal("mine", File.ReadAllText(Path.Combine(downloads, "a.txt")));
        Assert.Equal("new", File.ReadAllText(Path.Combine(downloads, "a (2).txt")));
    }

    [Fact]
    public void Placing_refuses_to_write_through_a_symbolic_link()
    {
        var downloads = _files.Dir("links");
        var outside = _files.Dir("outside");
        Directory.CreateSymbolicLink(Path.Combine(downloads, "album"), outside);
        using var partial = new PartialFile(Path.Combine(downloads, ".akka-tcp-transfer", "y.part"));
        Assert.True(partial.Open(1, null));
        partial.Write(0, "x"u8);
        partial.Complete(sync: false);
        var ex = Assert.Throws<TransferException>(() => partial.Place(downloads, ["album", "song.flac"]));
        Assert.Contains("symbolic link", ex.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(outside));
    }

    [Fact]
    public void The_receiver_acknowledges_a_chunk_only_after_it_is_written_and_refuses_a_gap()
    {
        var downloads = _files.Dir("dl");
        // Kept for a resume whatever its size: the partial is the shared .part file.
        var settings = Settings(("downloads", downloads), ("transfer.resume-min-size", "0"));
        var connection = CreateTestProbe();
        var transfers = CreateTestProbe();
        var partials = Sys.ActorOf(PartialFilesActor.Props(downloads, settings.Transfer));
        var receiver = ChildActorOf(ReceiverActor.Props(new Offer(5, "bob", [], "tester", "r.bin", 3000, 1), connection.Ref, transfers.Ref, partials, settings, "tester", 1000, "", new InboundWindow(new WindowPool(settings.Transfer.Window, settings.Transfer.MaxWindow).NewShare())));
        var accept = Assert.IsType<Accept>(Sent(connection));
        Assert.Equal((0L, 1000), (accept.Offset, accept.MaxChunk));
        receiver.Tell(new Start(5, 0, 4000)); // acks at least every 1000 bytes
        receiver.Tell(new Chunk(5, 0, new byte[1000]));
        Assert.Equal(1000, Assert.IsType<Ack>(Sent(connection)).Written);
        Assert.Equal(1000, new FileInfo(Directory.GetFiles(Path.Combine(downloads, SafeNames.PartialsFolder), "*.part").Single()).Length);
        receiver.Tell(new Chunk(5, 2000, new byte[1000])); // skips bytes 1000..1999
        var fail = Assert.IsType<Fail>(Sent(connection));
        Assert.Contains("at 2000 does not fit (written 1000", fail.Reason, StringComparison.Ordinal);
    }
}
