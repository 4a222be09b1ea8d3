using System.Security.Cryptography;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Settings;
using AkkaTcpTransfer.Tcp;
using AkkaTcpTransfer.Tests.Support;
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
        NodeSettings.Read(NodeConfig.Build(NodeRole.Client, [("name", "tester"), .. overrides]), NodeRole.Client);

    private static Frame Sent(TestProbe connection) => connection.ExpectMsg<ConnectionMessages.Send>().Frame;

    [Fact]
    public void The_sender_never_has_more_than_the_window_unacknowledged()
    {
        const int chunk = 1000, window = 4000, size = 20_500;
        var path = _files.Create("window.bin", size, seed: 3);
        var info = new FileInfo(path);
        var connection = CreateTestProbe();
        var transfers = CreateTestProbe();
        var spec = new TransferMessages.StartSend(9, path, "window.bin", "bob", size, info.LastWriteTimeUtc.Ticks);
        var sender = ChildActorOf(SenderActor.Props(spec, connection.Ref, transfers.Ref, Settings(("transfer.chunk-size", "1k"), ("transfer.window", "4k")), "tester"));

        Assert.IsType<Offer>(Sent(connection));
        sender.Tell(new Accept(9, 0, [], chunk, window));
        Assert.Equal(0, Assert.IsType<Start>(Sent(connection)).Offset);

        long acked = 0, sent = 0;
        var data = new List<byte>();
        while (acked < size)
        {
            // Take every chunk the sender is willing to send now...
            while (connection.HasMessages || sent - acked < window && sent < size)
            {
                var frame = connection.ReceiveOne(TimeSpan.FromSeconds(5)) as ConnectionMessages.Send;
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
        var done = connection.FishForMessage<ConnectionMessages.Send>(m => m.Frame is Done).Frame as Done;
        Assert.Equal(SHA256.HashData(File.ReadAllBytes(path)), done!.Sha256);
        Assert.Equal(File.ReadAllBytes(path), data.ToArray());
    }

    [Fact]
    public void A_parked_hash_state_resumes_without_reading_the_partial_file()
    {
        var partial = _files.Create("p1.part", 4096, seed: 1);
        var bytes = File.ReadAllBytes(partial);
        // A hash state whose content deliberately differs from the file: if the writer read the file, it would
        // answer the file's hash; answering the parked one proves it did not read it.
        var parked = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        parked.AppendData(new byte[4096]);
        var writer = Sys.ActorOf(FileWriterActor.Props(partial, Settings().Transfer));
        writer.Tell(new FileWriterActor.Open(10_000, new ParkedPartial(4096, parked, File.GetLastWriteTimeUtc(partial))));
        var opened = ExpectMsg<FileWriterActor.Opened>();
        Assert.Equal(4096, opened.Offset);
        Assert.Equal(SHA256.HashData(new byte[4096]), opened.PrefixSha256);
        Assert.NotEqual(SHA256.HashData(bytes), opened.PrefixSha256);
    }

    [Fact]
    public void A_partial_file_touched_since_it_was_parked_is_re_read()
    {
        var partial = _files.Create("p2.part", 4096, seed: 2);
        var expected = SHA256.HashData(File.ReadAllBytes(partial));
        var parked = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        parked.AppendData(new byte[4096]);
        var state = new ParkedPartial(4096, parked, File.GetLastWriteTimeUtc(partial).AddSeconds(-5));
        var writer = Sys.ActorOf(FileWriterActor.Props(partial, Settings().Transfer));
        writer.Tell(new FileWriterActor.Open(10_000, state));
        var opened = ExpectMsg<FileWriterActor.Opened>();
        Assert.Equal(4096, opened.Offset);
        Assert.Equal(expected, opened.PrefixSha256);
    }

    [Fact]
    public void The_receiver_acknowledges_a_chunk_only_after_it_is_written_and_refuses_a_gap()
    {
        var downloads = _files.Dir("dl");
        var settings = Settings(("downloads", downloads));
        var connection = CreateTestProbe();
        var transfers = CreateTestProbe();
        var partials = Sys.ActorOf(PartialFilesActor.Props(downloads, settings.Transfer.FileIoDispatcher));
        var receiver = ChildActorOf(ReceiverActor.Props(new Offer(5, "bob", "tester", "r.bin", 3000, 1), connection.Ref, transfers.Ref, partials, settings, "tester", 1000));
        var accept = Assert.IsType<Accept>(Sent(connection));
        Assert.Equal((0L, 1000), (accept.Offset, accept.MaxChunk));
        receiver.Tell(new Start(5, 0));
        receiver.Tell(new Chunk(5, 0, new byte[1000]));
        Assert.Equal(1000, Assert.IsType<Ack>(Sent(connection)).Written);
        Assert.Equal(1000, new FileInfo(Directory.GetFiles(Path.Combine(downloads, SafeNames.PartialsFolder)).Single()).Length);
        receiver.Tell(new Chunk(5, 2000, new byte[1000])); // skips bytes 1000..1999
        var fail = Assert.IsType<Fail>(Sent(connection));
        Assert.Contains("expected byte 1000", fail.Reason, StringComparison.Ordinal);
    }
}
