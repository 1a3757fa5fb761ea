namespace HikShareCloud;

public static class Program
{
    public static Task<int> Main(string[] args) => CloudTool.RunAsync(args, Console.Out, Console.Error, Console.In);
}
