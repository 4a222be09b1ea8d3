using System.Diagnostics;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Tests.Support;

namespace AkkaTcpTransfer.Tests.EndToEnd;

/// <summary>A receiver whose downloads folder is a real 4 MiB tmpfs. Mounting needs root (CI runs as root); where it
/// is not permitted the tests are skipped and say so.</summary>
public sealed class DiskFullTests : IAsyncLifetime
{
    private readonly Files _files = new();
    private readonly TestNodes _nodes = new();
    private string _mount = null!;
    private bool _mounted;

    public async Task InitializeAsync()
    {
        _mount = _files.Dir("small-disk");
        _mounted = await Run("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", _mount) == 0;
    }

    public async Task DisposeAsync()
    {
        await _nodes.DisposeAsync();
        if (_mounted) await Run("umount", _mount);
        _files.Dispose();
    }

    private static async Task<int> Run(string file, params string[] args)
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardError = true, RedirectStandardOutput = true })!;
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await p.WaitForExitAsync(cts.Token);
            return p.ExitCode;
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or OperationCanceledException)
        {
            return -1;
        }
    }

    [SkippableFact]
    public async Task An_offer_larger_than_the_free_space_is_refused_up_front()
    {
        Skip.IfNot(_mounted, "mounting a tmpfs needs root (CAP_SYS_ADMIN); CI runs as root");
        var (server, serverLog) = await _nodes.StartServer(("downloads", _mount), ("transfer.min-free-space", "0"));
        var (alice, aliceLog) = await _nodes.StartClient("alice", server.Port, ("downloads", _files.Dir("alice")));
        alice.Commands.Tell(new NodeCommands.SendFile(null, _files.Create("src/too-big.bin", 6 * 1024 * 1024)));
        var failed = await aliceLog.WaitFor<TransferFailed>();
        Assert.Contains("not enough free space", failed.Reason, StringComparison.Ordinal);
        Assert.Contains("not enough free space", (await serverLog.WaitFor<TransferFailed>()).Reason, StringComparison.Ordinal);
        Assert.Empty(Files.List(_mount));
        Assert.Empty(Files.Partials(_mount));
    }

    [SkippableFact]
    public async Task A_disk_that_fills_mid_transfer_fails_that_transfer_cleanly_and_nothing_else()
    {
        Skip.IfNot(_mounted, "mounting a tmpfs needs root (CAP_SYS_ADMIN); CI runs as root");
        // The free-space check is off, as if something else filled the disk after the offer was accepted.
        var (server, serverLog) = await _nodes.StartServer(("downloads", _mount), ("transfer.check-free-space", "off"));
        var (alice, aliceLog) = await _nodes.StartClient("alice", server.Port, ("downloads", _files.Dir("alice")));
        alice.Commands.Tell(new NodeCommands.SendFile(null, _files.Create("src/filler.bin", 6 * 1024 * 1024)));
        var failed = await aliceLog.WaitFor<TransferFailed>();
        Assert.Contains("disk is full", failed.Reason, StringComparison.Ordinal);
        Assert.Contains("disk is full", (await serverLog.WaitFor<TransferFailed>()).Reason, StringComparison.Ordinal);
        Assert.Empty(Files.List(_mount));       // nothing under a final name
        Assert.Empty(Files.Partials(_mount));   // and the partial file is gone, freeing the space

        // The server and the connection carry on: chat, and a file that fits.
        alice.Commands.Tell(new NodeCommands.Say("still here"));
        await serverLog.WaitFor<ChatReceived>(c => c.Text == "still here");
        var small = _files.Create("src/small.bin", 1024 * 1024, seed: 2);
        alice.Commands.Tell(new NodeCommands.SendFile(null, small));
        var done = await serverLog.WaitFor<TransferCompleted>();
        Assert.Equal(Files.Sha256(small), Files.Sha256(done.Path));
    }
}
