using Akka.TestKit.Xunit2;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Settings;
using AkkaTcpTransfer.Tests.Support;
using AkkaTcpTransfer.Transfer.Storage;
using Xunit.Abstractions;

namespace AkkaTcpTransfer.Tests.Actors;

/// <summary>The partial-files actor contains disk failures where they happen: the node cannot work without it.</summary>
public sealed class PartialFilesActorTests(ITestOutputHelper output)
    : TestKit(NodeConfig.Build(NodeRole.Client, ("name", "tester"), ("akka.loglevel", "ERROR")), output: output), IDisposable
{
    private readonly Files _files = new();

    void IDisposable.Dispose()
    {
        _files.Dispose();
        Shutdown();
    }

    [Fact]
    public void A_partials_folder_that_cannot_be_listed_is_reported_and_skipped_and_the_actor_lives_on()
    {
        var downloads = _files.Dir("dl");
        Directory.CreateDirectory(Path.Combine(downloads, SafeNames.PartialsFolder));
        var settings = NodeSettings.Read(NodeConfig.Build(NodeRole.Client, ("name", "tester"), ("downloads", downloads)), NodeRole.Client);
        // The folder fails as a disk would: the listing breaks after the first entry (an I/O error mid-enumeration).
        static IEnumerable<string> Failing(string folder)
        {
            yield return Path.Combine(folder, "k-1.part");
            throw new IOException("Input/output error");
        }
        var partials = Sys.ActorOf(PartialFilesActor.Props(downloads, settings.Transfer, (folder, _) => Failing(folder)));
        Watch(partials);
        Sys.EventStream.Subscribe(TestActor, typeof(ErrorOccurred));
        Sys.EventStream.Subscribe(TestActor, typeof(PartialsListed));

        partials.Tell(PartialFilesActor.List.Instance);
        Assert.Contains("cannot list the partial files", ExpectMsg<ErrorOccurred>().Message, StringComparison.Ordinal);
        Assert.Empty(ExpectMsg<PartialsListed>().Partials);
        // Alive, and still answering: a claim is granted (the folder can be written), and another listing is answered.
        partials.Tell(new PartialFilesActor.Claim("abc-def", 7, 10, false, new DiskReservation(), new PartialFilesActor.PartialMeta("f.bin", "bob", 10, DateTimeOffset.UtcNow)));
        Assert.True(ExpectMsg<PartialFilesActor.Claimed>().Resumable);
        partials.Tell(PartialFilesActor.List.Instance);
        ExpectMsg<ErrorOccurred>();
        ExpectMsg<PartialsListed>();
    }
}
