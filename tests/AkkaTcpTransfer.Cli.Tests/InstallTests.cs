using System.Diagnostics;

namespace AkkaTcpTransfer.Cli.Tests;

/// <summary>The program installs as a .NET tool from the package `dotnet pack` makes, and the installed command runs.</summary>
public sealed class InstallTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("att-install-").FullName;

    private static string Repository()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "AkkaTcpTransfer.sln"))) return dir.FullName;
        }
        throw new DirectoryNotFoundException("AkkaTcpTransfer.sln not found above " + AppContext.BaseDirectory);
    }

    private static async Task<(int Code, string Output)> Run(string program, params string[] args)
    {
        var info = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) info.ArgumentList.Add(a);
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";
        using var p = Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(4));
        return (p.ExitCode, await stdout + await stderr);
    }

    [Fact]
    public async Task Dotnet_pack_makes_a_tool_that_installs_and_runs_as_akka_tcp_transfer()
    {
        var packages = Path.Combine(_root, "packages");
        var tools = Path.Combine(_root, "tools");
        var pack = await Run("dotnet", "pack", Path.Combine(Repository(), "src", "AkkaTcpTransfer.Cli", "AkkaTcpTransfer.Cli.csproj"),
            "-c", "Release", "-o", packages);
        Assert.True(pack.Code == 0, pack.Output);
        var install = await Run("dotnet", "tool", "install", "AkkaTcpTransfer.Cli", "--tool-path", tools, "--add-source", packages);
        Assert.True(install.Code == 0, install.Output);
        var help = await Run(Path.Combine(tools, OperatingSystem.IsWindows() ? "akka-tcp-transfer.exe" : "akka-tcp-transfer"), "--help");
        Assert.Equal(0, help.Code);
        Assert.Contains("akka-tcp-transfer: actor-based TCP chat and file transfer", help.Output, StringComparison.Ordinal);
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
