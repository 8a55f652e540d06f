"""The parts of ``RunRepository`` (mangodb/repository.py), one per concern. Each method checks
its arguments (mangodb/inputs.py), runs one unit of work that delegates to the domain modules
(mangodb/runs, mangodb/history), and returns DTOs."""
